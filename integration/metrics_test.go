package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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

// scrape takes one scrape; false if the processor did not answer, or
// not with the job's metrics yet.
func (s *scraper) scrape() bool {
	s.t.Helper()
	code, body := httpGet(s.url)
	if code != http.StatusOK {
		return false
	}
	if !strings.Contains(body, "# TYPE tidemark_checkpoints_completed_total counter") {
		return false // the job's metrics are registered once it holds its lease
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
	// A client id of its own, for a fetch quota that makes reading the
	// backlog take seconds (it is read in a flash otherwise).
	clientID := j.name
	cfg := j.variant("metrics", `listen: ""`, fmt.Sprintf("listen: %q", addr), "log:\n", "drill:\n  interval: 2s\nlog:\n",
		"kafka:\n", "kafka:\n  client_id: "+clientID+"\n")
	quota := func(ctx context.Context, remove bool) {
		t.Helper()
		res, err := j.kafka.Admin(t).AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
			Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &clientID}},
			Ops:    []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 2 << 20, Remove: remove}},
		}})
		if err == nil {
			for _, r := range res {
				err = errors.Join(err, r.Err)
			}
		}
		if err != nil {
			t.Fatalf("fetch quota of client %s: %v", clientID, err)
		}
	}
	quota(ctx, false)
	t.Cleanup(func() {
		// The broker keeps quotas: leave none behind a failed test.
		qctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		quota(qctx, true)
	})
	_, file, _, _ := runtime.Caller(0)
	rules, err := alerteval.LoadRules(filepath.Join(filepath.Dir(file), "..", "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// A backlog written before the processor starts, of records large
	// enough that reading it takes many fetches.
	const backlog = 10000
	cl := j.kafka.Client(t)
	recs := make([]*kgo.Record, 0, backlog)
	pad := strings.Repeat("x", 2000)
	for i := range backlog {
		recs = append(recs, &kgo.Record{Topic: j.in, Key: fmt.Appendf(nil, "key-%03d", i%64), Value: fmt.Appendf(nil, "%d %s", i, pad)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	p := j.startArgs(cfg, nil)
	s := &scraper{t: t, url: "http://" + addr + "/metrics", h: alerteval.NewHistory()}
	// Scrape often as it starts, to see the backlog as lag.
	maxLag := 0.0
	for in := 0.0; in < backlog; {
		select {
		case err := <-p.exited:
			t.Fatalf("processor exited (%v):\n%s", err, p.tail(30))
		case <-ctx.Done():
			t.Fatalf("the backlog was not read (%v of %d records):\n%s", in, backlog, p.tail(30))
		case <-time.After(10 * time.Millisecond):
		}
		if s.scrape() {
			lag, _ := s.value(`tidemark_source_consumer_lag_records`)
			maxLag = max(maxLag, lag)
			in, _ = s.value(`tidemark_source_records_in_total`)
		}
	}
	quota(ctx, true)
	j.waitRunning(ctx, p)
	prod := j.produce(ctx, 32, 500)
	stopped := false
	defer func() {
		if !stopped {
			prod.stop()
		}
	}()
	first := map[string]float64{}
	moving := []string{
		`tidemark_checkpoints_completed_total`,
		`tidemark_source_records_in_total{source="source"}`,
		`tidemark_operator_records_in_total{operator="count-0"}`,
		`tidemark_operator_records_out_total{operator="count-0"}`,
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
	why := ""
	waiting := func(w string) bool {
		if w != why {
			t.Logf("waiting: %s", w)
			why = w
		}
		return false
	}
	waitFor(ctx, t, p, "the metrics to move", func() bool {
		if !s.scrape() {
			return waiting("no answer from /metrics")
		}
		for _, m := range moving {
			if v, _ := s.value(m); v <= first[m] {
				return waiting(fmt.Sprintf("%s still %v", m, v))
			}
		}
		if passed, _ := s.value(`tidemark_drill_runs_total{result="passed"}`); passed < 1 {
			return waiting("no drill passed yet")
		}
		lag, _ := s.value(`tidemark_source_consumer_lag_records`)
		if lag >= maxLag/10 {
			return waiting(fmt.Sprintf("consumer lag %v (at most %v)", lag, maxLag))
		}
		return true
	})
	lag, _ := s.value(`tidemark_source_consumer_lag_records`)
	t.Logf("consumer lag: at most %.0f records while reading the backlog, %.0f now", maxLag, lag)
	if maxLag == 0 {
		t.Errorf("the backlog of %d records never showed as consumer lag", backlog)
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
	prod.stop()
	stopped = true
	j.stop(ctx, p)

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
