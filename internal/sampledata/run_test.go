package sampledata_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/runner"
	"github.com/tidemark/tidemark/internal/sampledata"
)

// TestExamplesRun runs configs/sessions.yaml and pageviews.yaml (and
// orders.yaml, TestOrdersRun) as shipped (stop_at: end) on the embedded
// broker, after loading their sample as cmd/seed does, and checks their
// committed output exactly against configs/data/expected (append topics:
// the same lines; upsert topics: the same last value per key, each key's
// earlier records being the rows it replaced). Nothing goes to the
// dead-letter topics.
func TestExamplesRun(t *testing.T) {
	for _, ex := range examples(t) {
		t.Run(ex.config, func(t *testing.T) { runExample(t, ex) })
	}
}

// runExample runs ex and checks its outputs.
func runExample(t *testing.T, ex example) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, err := config.Load("../../configs/" + ex.config + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.State.Dir = filepath.Join(dir, "state")
	cfg.Checkpoint.Storage = "file://" + filepath.Join(dir, "checkpoints")
	cfg.Checkpoint.Interval = 100 * time.Millisecond
	cfg.HTTP.Listen = ""
	cfg.Kafka.EmbeddedListen = "127.0.0.1:0"
	for _, s := range cfg.Sources {
		if s.StopAt != config.StopAtEnd {
			t.Fatalf("source %s of %s is not bounded (stop_at: end)", s.Name, ex.config)
		}
	}

	brokerDir := filepath.Join(cfg.State.Dir, "embedded-kafka")
	withBroker(ctx, t, brokerDir, func(cl *kgo.Client) {
		all := slices.Concat(cfg.SourceTopics(), cfg.SinkTopics(), []string{cfg.DeadLetterTopic()})
		if err := embedded.EnsureTopics(ctx, cl, int32(cfg.Kafka.Seed.Partitions), all...); err != nil {
			t.Fatal(err)
		}
		if _, err := sampledata.Load(ctx, cl, dataDir, cfg.SourceTopics(), false); err != nil {
			t.Fatal(err)
		}
	})

	if err := runner.Run(ctx, &cfg, runner.Options{}, zaptest.NewLogger(t), runner.Hooks{}); err != nil {
		t.Fatalf("run: %v", err)
	}

	withBroker(ctx, t, brokerDir, func(cl *kgo.Client) {
		held, err := sampledata.Held(ctx, cl, cfg.DeadLetterTopic())
		if err != nil {
			t.Fatal(err)
		}
		if held[cfg.DeadLetterTopic()] != 0 {
			t.Errorf("%s holds %d records", cfg.DeadLetterTopic(), held[cfg.DeadLetterTopic()])
		}
		for topic, want := range ex.outputs {
			if ex.upsert[topic] {
				checkUpsert(ctx, t, cl, topic, want)
			} else {
				checkAppend(ctx, t, cl, topic, want)
			}
		}
	})
}

// withBroker starts the embedded broker on dataDir for f, and stops it
// (saving its data) afterwards.
func withBroker(ctx context.Context, t *testing.T, dataDir string, f func(*kgo.Client)) {
	t.Helper()
	b, err := embedded.Start(ctx, embedded.Options{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	f(cl)
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// consume reads topic (read_committed) until done says it has all, then
// reads once more for a moment to catch records beyond those.
func consume(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, done func([]string) bool) []string {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []string
	poll := func(ctx context.Context) {
		fs := c.PollFetches(ctx)
		fs.EachError(func(tp string, p int32, err error) {
			if ctx.Err() == nil {
				t.Fatalf("consume %s[%d]: %v", tp, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Key)+"\t"+string(r.Value)) })
	}
	for !done(got) {
		if ctx.Err() != nil {
			t.Fatalf("%s: %d records in time, not all expected:\n%s", topic, len(got), strings.Join(got, "\n"))
		}
		poll(ctx)
	}
	extra, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	poll(extra)
	return got
}

func checkAppend(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, want []string) {
	t.Helper()
	got := consume(ctx, t, cl, topic, func(got []string) bool { return len(got) >= len(want) })
	got = sortByValue(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n%s\nwant:\n%s", topic, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func checkUpsert(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, want []string) {
	t.Helper()
	last := func(got []string) map[string]string {
		m := map[string]string{}
		for _, l := range got {
			k, _, _ := strings.Cut(l, "\t")
			m[k] = l
		}
		return m
	}
	wantLast := last(want)
	// Done when every key's last value is the expected one as JSON (field
	// order aside): the exact comparison below then tells the difference.
	got := consume(ctx, t, cl, topic, func(got []string) bool {
		m := last(got)
		for k, l := range wantLast {
			if !sameJSON(m[k], l) {
				return false
			}
		}
		return true
	})
	var final []string
	for _, l := range last(got) {
		final = append(final, l)
	}
	slices.Sort(final)
	if strings.Join(final, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s, last value per key:\n%s\nwant:\n%s", topic, strings.Join(final, "\n"), strings.Join(want, "\n"))
	}
	// Before its final row a key may have had one row, the one its final
	// row replaced: the order without its payment.
	perKey := map[string]int{}
	for _, l := range got {
		k, v, _ := strings.Cut(l, "\t")
		perKey[k]++
		if l != wantLast[k] && !strings.Contains(v, `"payment_id":null`) {
			t.Errorf("%s: key %s had row %s before its final one", topic, k, v)
		}
	}
	for k, n := range perKey {
		if n > 2 {
			t.Errorf("%s: key %s written %d times", topic, k, n)
		}
	}
}

// sameJSON says whether two KEY<TAB>VALUE lines have the same key and
// equal JSON values, whatever the order of their fields.
func sameJSON(a, b string) bool {
	ka, va, _ := strings.Cut(a, "\t")
	kb, vb, _ := strings.Cut(b, "\t")
	var x, y any
	if ka != kb || json.Unmarshal([]byte(va), &x) != nil || json.Unmarshal([]byte(vb), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
