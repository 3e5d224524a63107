package integration

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/internal/alerteval"
)

// scraper scrapes a processor's /metrics into a history.
type scraper struct {
	t    *testing.T
	url  string
	h    *alerteval.History
	last string // the newest scrape's text
}

// scrape takes one scrape; false if the processor did not answer.
func (s *scraper) scrape() bool {
	s.t.Helper()
	code, body := httpGet(s.url)
	if code != http.StatusOK {
		return false
	}
	if !strings.Contains(body, "# TYPE tidemark_checkpoints_completed_total counter") {
		s.t.Fatalf("/metrics lacks tidemark_checkpoints_completed_total:\n%s", body)
	}
	if err := s.h.Scrape(time.Now(), strings.NewReader(body)); err != nil {
		s.t.Fatal(err)
	}
	s.last = body
	return true
}

// value evaluates expr (PromQL subset) at the newest scrape: the sum of its
// elements, and whether it had any.
func (s *scraper) value(expr string) (float64, bool) {
	s.t.Helper()
	e, err := alerteval.Parse(expr)
	if err != nil {
		s.t.Fatal(err)
	}
	ts := s.h.Times()
	got, err := s.h.Eval(e, ts[len(ts)-1])
	if err != nil {
		s.t.Fatal(err)
	}
	var sum float64
	for _, x := range got {
		sum += x.Value
	}
	return sum, len(got) > 0
}

// TestMetricsOfARunningProcessor (issue 10.1, 10.4): a processor on the
// real broker and S3 server serves /metrics, and its values move as it
// works: input written before it started shows as consumer lag that falls
// as it catches up; records in and out, checkpoints completed, committed
// transactions and storage requests grow; its start is timed as a
// restore; the scheduled recovery drill passes. No rule of
// deploy/prometheus/alerts.yaml fires on the healthy processor. After a
// clean stop, the next start exports the restore of the state it left.
func TestMetricsOfARunningProcessor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	j := newChaosJob(t)
	addr := freeAddr(t)
	cfg := j.variant("metrics", `listen: ""`, fmt.Sprintf("listen: %q", addr), "log:\n", "drill:\n  interval: 2s\nlog:\n")
	_, file, _, _ := runtime.Caller(0)
	rules, err := alerteval.LoadRules(filepath.Join(filepath.Dir(file), "..", "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// A backlog written before the processor starts.
	const backlog = 40000
	cl := j.kafka.Client(t)
	recs := make([]*kgo.Record, 0, backlog)
	for i := range backlog {
		recs = append(recs, &kgo.Record{Topic: j.in, Key: fmt.Appendf(nil, "key-%03d", i%64), Value: fmt.Append(nil, i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	p := j.startArgs(cfg, nil)
	s := &scraper{t: t, url: "http://" + addr + "/metrics", h: alerteval.NewHistory()}
	// Scrape as it starts, to see the backlog as lag.
	maxLag := 0.0
	waitFor(ctx, t, p, "the backlog read", func() bool {
		if !s.scrape() {
			return false
		}
		lag, _ := s.value(`tidemark_source_consumer_lag_records`)
		maxLag = max(maxLag, lag)
		in, _ := s.value(`tidemark_source_records_in_total`)
		return in >= backlog
	})
	j.waitRunning(ctx, p)
	prod := j.produce(ctx, 32, 500)
	defer prod.stop()
	first := map[string]float64{}
	moving := []string{
		`tidemark_checkpoints_completed_total`,
		`tidemark_source_records_in_total{source="source"}`,
		`tidemark_operator_records_in_total{operator="count"}`,
		`tidemark_operator_records_out_total{operator="count"}`,
		`tidemark_sink_records_out_total`,
		`tidemark_sink_transactions_total{result="committed"}`,
		`tidemark_storage_requests_total{operation="put_if_absent"}`,
		`tidemark_checkpoint_duration_seconds_count`,
	}
	for _, m := range moving {
		first[m], _ = s.value(m)
	}
	// The values move; the lag falls as the backlog is read; a drill
	// passes.
	waitFor(ctx, t, p, "the metrics to move", func() bool {
		if !s.scrape() {
			return false
		}
		for _, m := range moving {
			if v, _ := s.value(m); v <= first[m] {
				return false
			}
		}
		passed, _ := s.value(`tidemark_drill_runs_total{result="passed"}`)
		lag, _ := s.value(`tidemark_source_consumer_lag_records`)
		return passed >= 1 && lag < maxLag/10
	})
	lag, _ := s.value(`tidemark_source_consumer_lag_records`)
	t.Logf("consumer lag: at most %.0f records while reading the backlog, %.0f now", maxLag, lag)
	if maxLag < backlog/10 {
		t.Errorf("the backlog of %d records never showed as lag (at most %.0f)", backlog, maxLag)
	}
	for expr, check := range map[string]func(float64) bool{
		`tidemark_checkpoint_since_last_completed_seconds`: func(v float64) bool { return v < 30 },
		`tidemark_checkpoint_interval_seconds`:             func(v float64) bool { return v == 0.3 },
		`tidemark_restore_duration_seconds_count`:          func(v float64) bool { return v == 1 },
		`tidemark_checkpoint_full_size_bytes`:              func(v float64) bool { return v > 0 },
		`tidemark_task_state_size_bytes{task="keyed-0"}`:   func(v float64) bool { return v > 0 },
		`tidemark_drill_last_success`:                      func(v float64) bool { return v == 1 },
		`tidemark_drill_last_keys`:                         func(v float64) bool { return v > 0 },
		`tidemark_checkpoints_failed_total`:                func(v float64) bool { return v == 0 },
		`max(tidemark_watermark_lag_seconds)`:              func(v float64) bool { return v >= 0 && v < 600 },
	} {
		if v, ok := s.value(expr); !ok || !check(v) {
			t.Errorf("%s = %v (present %v)", expr, v, ok)
		}
	}
	if n := strings.Count(s.last, "tidemark_source_consumer_lag_records{"); n != 4 {
		t.Errorf("%d consumer lag series, want one per input partition (4)", n)
	}
	for _, r := range rules {
		if got, err := s.h.Firing(r, s.h.Times()[len(s.h.Times())-1]); err != nil || len(got) > 0 {
			t.Errorf("alert %s fires on a healthy processor: %v %v", r.Alert, got, err)
		}
	}
	want := prod.stop()
	j.stop(ctx, p)
	j.verify(ctx, want)

	// The next start restores what the first left.
	p2 := j.startArgs(cfg, nil)
	j.waitRunning(ctx, p2)
	s2 := &scraper{t: t, url: s.url, h: alerteval.NewHistory()}
	waitFor(ctx, t, p2, "a scrape after the restart", s2.scrape)
	if v, _ := s2.value(`tidemark_restore_state_size_bytes`); v <= 0 {
		t.Errorf("restore after a clean stop: restored state of %v bytes", v)
	}
	if v, _ := s2.value(`tidemark_restore_duration_seconds_sum`); v <= 0 {
		t.Errorf("restore after a clean stop took %v s", v)
	}
	j.stop(ctx, p2)
}
