package runner_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/internal/runner"
	"github.com/tidemark/tidemark/sink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quickstart loads configs/quickstart.yaml with its directories moved into
// a temporary one and a fixed sample: records events, no more.
func quickstart(t *testing.T, records int) *config.Config {
	t.Helper()
	cfg, err := config.Load("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.State.Dir = filepath.Join(dir, "state")
	cfg.Checkpoint.Storage = "file://" + filepath.Join(dir, "checkpoints")
	cfg.Checkpoint.Interval = 100 * time.Millisecond
	cfg.HTTP.Listen = ""
	cfg.Kafka.EmbeddedListen = "127.0.0.1:0"
	cfg.Kafka.Seed.RatePerSecond = 0
	cfg.Kafka.Seed.Records = records
	return &cfg
}

// runQuickstart runs cfg until topic holds want records (read_committed),
// then stops the job cleanly and returns them.
func runQuickstart(t *testing.T, cfg *config.Config, topic string, want int) []*kgo.Record {
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
	got := consume(t, ctx, brokers, topic, want)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	return got
}

func consume(t *testing.T, ctx context.Context, brokers []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d records reached %s in time", len(got), want, topic)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("consume %s[%d]: %v", tp, p, err) })
		got = append(got, fs.Records()...)
	}
	return got
}

// checkCounts checks that the counts per user in recs are exactly 1..n for
// each user, n the user's number of well-formed events among the first
// events sample events.
func checkCounts(t *testing.T, cfg *config.Config, recs []*kgo.Record, events int) {
	t.Helper()
	want := map[string]int{}
	for seq := range int64(events) {
		if m := int64(cfg.Kafka.Seed.MalformedEvery); m > 0 && seq%m == m-1 {
			continue
		}
		want[embedded.MakeEvent(seq, cfg.Kafka.Seed.Keys, time.Time{}).User]++
	}
	seen := map[string]map[int]int{}
	for _, r := range recs {
		n, err := strconv.Atoi(string(r.Value))
		if err != nil {
			t.Fatalf("output value %q is not a count", r.Value)
		}
		if seen[string(r.Key)] == nil {
			seen[string(r.Key)] = map[int]int{}
		}
		seen[string(r.Key)][n]++
	}
	for user, n := range want {
		for c := 1; c <= n; c++ {
			switch seen[user][c] {
			case 1:
			case 0:
				t.Errorf("%s: count %d missing", user, c)
			default:
				t.Errorf("%s: count %d written %d times", user, c, seen[user][c])
			}
		}
		if len(seen[user]) != n {
			t.Errorf("%s: %d counts written, want %d", user, len(seen[user]), n)
		}
	}
}

func wellFormed(cfg *config.Config, events int) int {
	if m := cfg.Kafka.Seed.MalformedEvery; m > 0 {
		return events - events/m
	}
	return events
}

// TestQuickstartCountsPerUser runs the quickstart as configured: every
// well-formed event counted once per user, every malformed one in the
// dead-letter topic with headers saying why and where from.
func TestQuickstartCountsPerUser(t *testing.T) {
	cfg := quickstart(t, 1000)
	got := runQuickstart(t, cfg, cfg.Sink.Topic, wellFormed(cfg, 1000))
	checkCounts(t, cfg, got, 1000)
}

func TestQuickstartDeadLetters(t *testing.T) {
	cfg := quickstart(t, 1000)
	got := runQuickstart(t, cfg, cfg.DeadLetterTopic(), 1000/cfg.Kafka.Seed.MalformedEvery)
	for _, r := range got {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if h[sink.HeaderTopic] != "clicks" || h[sink.HeaderOffset] == "" || h[sink.HeaderPartition] == "" || h[sink.HeaderOperator] != "key_by-0" {
			t.Errorf("dead letter headers %v", h)
		}
		if json.Valid(r.Value) || h[sink.HeaderError] == "" {
			t.Errorf("dead letter %q (error %q) is not a malformed event", r.Value, h[sink.HeaderError])
		}
	}
}

// TestQuickstartRestartContinues: a second run on the same state restores
// the first one's final checkpoint and counts only the new events.
func TestQuickstartRestartContinues(t *testing.T) {
	cfg := quickstart(t, 300)
	runQuickstart(t, cfg, cfg.Sink.Topic, wellFormed(cfg, 300))
	// The second run seeds 300 more on the persisted broker.
	got := runQuickstart(t, cfg, cfg.Sink.Topic, wellFormed(cfg, 600))
	checkCounts(t, cfg, got, 600)
}

// TestRefusedStopKeepsRunning: a stop with savepoint that cannot be
// served (here: a name no savepoint can have) fails with the reason and
// leaves the job running; a later stop with a good name stops it with its
// savepoint. (It used to end the process without a final checkpoint.)
func TestRefusedStopKeepsRunning(t *testing.T) {
	cfg := quickstart(t, 300)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stopc := make(chan func(context.Context, string) (string, error), 1)
	done := make(chan error, 1)
	go func() {
		done <- runner.Run(ctx, cfg, runner.Options{}, zaptest.NewLogger(t), runner.Hooks{
			Stopper: func(stop func(context.Context, string) (string, error)) { stopc <- stop },
		})
	}()
	var stop func(context.Context, string) (string, error)
	select {
	case stop = <-stopc:
	case err := <-done:
		t.Fatalf("run ended before it was ready: %v", err)
	}
	if _, err := stop(ctx, "no/slashes"); err == nil || !strings.Contains(err.Error(), "keeps running") {
		t.Fatalf("stop with a bad name = %v, want a refusal saying the job keeps running", err)
	}
	select {
	case err := <-done:
		t.Fatalf("the run ended after a refused stop: %v", err)
	default:
	}
	dir, err := stop(ctx, "good")
	if err != nil {
		t.Fatalf("stop with savepoint: %v", err)
	}
	if !strings.Contains(dir, "savepoints/good") {
		t.Errorf("savepoint dir %q", dir)
	}
	if err := <-done; err != nil {
		t.Fatalf("run after the stop: %v", err)
	}
}
