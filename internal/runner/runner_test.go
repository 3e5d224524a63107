package runner_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/internal/runner"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quickstart loads configs/quickstart.yaml with its directories moved into
// a temporary one.
func quickstart(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.State.Dir = filepath.Join(dir, "state")
	cfg.Checkpoint.Storage = "file://" + filepath.Join(dir, "checkpoints")
	cfg.HTTP.Listen = ""
	return &cfg
}

// runQuickstart runs cfg and reads its sink topic read_committed until want
// records arrived, then stops the job; it returns the sink records.
func runQuickstart(t *testing.T, cfg *config.Config, want int) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	brokersc := make(chan []string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runner.Run(ctx, cfg, runner.Options{}, zaptest.NewLogger(t), runner.Hooks{Ready: func(b []string, _ *job.Job) { brokersc <- b }})
	}()
	var brokers []string
	select {
	case brokers = <-brokersc:
	case err := <-done:
		t.Fatalf("run ended before it was ready: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(cfg.Sink.Topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d records reached %s in time", len(got), want, cfg.Sink.Topic)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("consume %s[%d]: %v", tp, p, err) })
		got = append(got, fs.Records()...)
	}
	cl.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	return got
}

func TestQuickstartForwardsSeededEventsExactlyOnce(t *testing.T) {
	cfg := quickstart(t)
	cfg.Kafka.Seed.RatePerSecond = 0 // exactly the seeded records
	n := cfg.Kafka.Seed.Records
	got := runQuickstart(t, cfg, n)
	seen := map[int64]bool{}
	for _, r := range got {
		var ev embedded.Event
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatalf("output is not a sample event: %q: %v", r.Value, err)
		}
		if seen[ev.Seq] {
			t.Errorf("event %d duplicated", ev.Seq)
		}
		seen[ev.Seq] = true
		if want := embedded.MakeEvent(ev.Seq, cfg.Kafka.Seed.Keys, time.Time{}); string(r.Key) != want.User || ev.User != want.User || ev.Action != want.Action {
			t.Errorf("event %d arrived altered: key %q, %+v", ev.Seq, r.Key, ev)
		}
	}
	for seq := range int64(n) {
		if !seen[seq] {
			t.Errorf("event %d missing", seq)
		}
	}
}

func TestQuickstartRestartContinues(t *testing.T) {
	cfg := quickstart(t)
	cfg.Kafka.Seed.RatePerSecond = 0
	cfg.Kafka.Seed.Records = 300
	runQuickstart(t, cfg, 300)
	// The second run seeds 300 more on the persisted broker and forwards
	// only those: the sink topic ends with each of the 600 events once.
	got := runQuickstart(t, cfg, 600)
	seen := map[int64]int{}
	for _, r := range got {
		var ev embedded.Event
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		seen[ev.Seq]++
	}
	for seq := range int64(600) {
		if seen[seq] != 1 {
			t.Errorf("event %d seen %d times", seq, seen[seq])
		}
	}
	if len(got) != 600 {
		t.Errorf("sink holds %d records, want 600", len(got))
	}
	if _, err := os.Stat(filepath.Join(cfg.State.Dir, "embedded-kafka")); err != nil {
		t.Errorf("embedded broker kept no data: %v", err)
	}
}
