package source_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/source"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is an in-process Kafka cluster and a fake clock for the sources
// under test.
type env struct {
	t     *testing.T
	ctx   context.Context
	base  []kgo.Opt
	adm   *kadm.Client
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// A fetch in flight delays reading a partition added meanwhile by up
	// to the fetch's max wait (default 5s).
	base := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.FetchMaxWait(50 * time.Millisecond)}
	cl, err := kgo.NewClient(base...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return &env{t: t, ctx: ctx, base: base, adm: kadm.NewClient(cl), clock: &clock{t: time.Unix(1_700_000_000, 0)}}
}

// config returns a configuration reading topics.
func (e *env) config(topics ...string) *config.Config {
	cfg := config.Default()
	cfg.Job.Name = "sourcetest"
	cfg.Source.Topics = topics
	return &cfg
}

func (e *env) createTopic(name string, partitions int32) {
	e.t.Helper()
	resp, err := e.adm.CreateTopic(e.ctx, partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		e.t.Fatalf("create topic %s: %v", name, err)
	}
}

// setPartitions grows topic to n partitions.
func (e *env) setPartitions(topic string, n int) {
	e.t.Helper()
	resps, err := e.adm.UpdatePartitions(e.ctx, n, topic)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		e.t.Fatalf("set %s to %d partitions: %v", topic, n, err)
	}
}

// produce writes recs, each to its Partition, with a fresh client so that
// partitions just added are known.
func (e *env) produce(recs ...*kgo.Record) {
	e.t.Helper()
	cl, err := kgo.NewClient(append(e.base, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(e.ctx, recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
}

func rec(topic string, partition int32, tsMilli int64, value string) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: partition, Timestamp: time.UnixMilli(tsMilli), Value: []byte(value)}
}

// open opens the source of task of tasks, closed when the test ends.
func (e *env) open(cfg *config.Config, task, tasks int, restored []operators.Position) *source.Kafka {
	e.t.Helper()
	src := source.NewKafka(cfg, e.base, task, tasks, zaptest.NewLogger(e.t), source.WithClock(e.clock.Now))
	e.t.Cleanup(func() { _ = src.Close() })
	if err := src.Open(e.ctx, restored); err != nil {
		e.t.Fatalf("open source %d/%d: %v", task, tasks, err)
	}
	return src
}

// pollN polls until n records arrived (failing after 10s) and returns them
// with the last watermark.
func (e *env) pollN(src *source.Kafka, n int) ([]operators.Record, int64) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var all []operators.Record
	wm := int64(math.MinInt64)
	for len(all) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("got %d records, want %d: %+v", len(all), n, all)
		}
		recs, w := e.pollFor(src, 100*time.Millisecond)
		all = append(all, recs...)
		wm = w
	}
	if len(all) > n {
		e.t.Fatalf("got %d records, want %d: %+v", len(all), n, all)
	}
	return all, wm
}

// pollFor polls once, waiting at most d.
func (e *env) pollFor(src *source.Kafka, d time.Duration) ([]operators.Record, int64) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, d)
	defer cancel()
	recs, wm, err := src.Poll(ctx)
	if err != nil {
		e.t.Fatalf("poll: %v", err)
	}
	return recs, wm
}

// quiet polls for 200ms and fails if records arrive.
func (e *env) quiet(src *source.Kafka) int64 {
	e.t.Helper()
	recs, wm := e.pollFor(src, 200*time.Millisecond)
	if len(recs) > 0 {
		e.t.Fatalf("unexpected records: %+v", recs)
	}
	return wm
}

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type tp struct {
	topic     string
	partition int32
}

// owners maps every position of the sources to the task reporting it,
// failing on a partition reported twice.
func owners(t *testing.T, srcs []*source.Kafka) map[tp]int {
	t.Helper()
	m := map[tp]int{}
	for i, s := range srcs {
		for _, p := range s.Positions() {
			k := tp{p.Topic, p.Partition}
			if j, dup := m[k]; dup {
				t.Fatalf("%s[%d] is owned by tasks %d and %d", p.Topic, p.Partition, j, i)
			}
			m[k] = i
		}
	}
	return m
}

func offsets(recs []operators.Record) map[tp][]int64 {
	m := map[tp][]int64{}
	for _, r := range recs {
		k := tp{r.Topic, r.Partition}
		m[k] = append(m[k], r.Offset)
	}
	return m
}
