package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/internal/kafkabench"
	"github.com/tidemark/tidemark/sink"
)

// admin creates, deletes and inspects topics.
type admin struct {
	cl  *kgo.Client
	adm *kadm.Client
}

func newAdmin(brokers []string) (*admin, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("pipebench"))
	if err != nil {
		return nil, err
	}
	return &admin{cl: cl, adm: kadm.NewClient(cl)}, nil
}

func (a *admin) close() { a.cl.Close() }

// describe names the broker's version and transaction.version feature.
func (a *admin) describe(ctx context.Context) string {
	var vs []string
	if avs, err := a.adm.ApiVersions(ctx); err == nil {
		avs.Each(func(v kadm.BrokerApiVersions) {
			if v.Err == nil {
				vs = append(vs, v.VersionGuess())
			}
		})
	}
	if len(vs) == 0 {
		vs = append(vs, "version unknown")
	}
	if tv, err := sink.TxnVersion(ctx, a.cl); err == nil {
		vs = append(vs, fmt.Sprintf("transaction.version %d", tv))
	}
	return strings.Join(vs, ", ")
}

// createTopics creates fresh topics of o.partitions partitions and
// remembers them for the clean-up.
func (e *env) createTopics(ctx context.Context, names ...string) error {
	// Remembered first: a topic created before a failure is deleted too.
	e.topics = append(e.topics, names...)
	return kafkabench.CreateTopics(ctx, e.adm.adm, e.o.partitions, names...)
}

// deleteTopics deletes topics; failures are only reported.
func (e *env) deleteTopics(ctx context.Context, names ...string) {
	if e.o.keep {
		return
	}
	resp, err := e.adm.adm.DeleteTopics(ctx, names...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		progress("warning: delete topics %v: %v", names, err)
	}
	var keep []string
	for _, t := range e.topics {
		if !slices.Contains(names, t) {
			keep = append(keep, t)
		}
	}
	e.topics = keep
}

// The generator of the records (kafkabench.Gen).
const minValueSize = kafkabench.MinValueSize

type gen struct{ *kafkabench.Gen }

func newGen(keys, valueSize int, seed uint64) gen {
	return gen{kafkabench.NewGen(keys, valueSize, seed)}
}

func (g gen) next(sent time.Time) (int, []byte, []byte) { return g.Next(sent) }

var (
	parseSent = kafkabench.ParseSent
	keyIndex  = kafkabench.KeyIndex
	procCPU   = kafkabench.ProcCPU
)

// fill produces o.records generated records into topic (fresh, created
// here) with the client's defaults (idempotent, acks=all), and returns how
// long it took.
func (e *env) fill(ctx context.Context, topic string) (time.Duration, error) {
	if err := e.createTopics(ctx, topic); err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.o.brokers...), kgo.ClientID("pipebench-fill"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	g := newGen(e.o.keys, e.o.valueSize, e.o.seed)
	var failed atomic.Pointer[error]
	start := time.Now()
	for range e.o.records {
		if failed.Load() != nil || ctx.Err() != nil {
			break
		}
		_, k, v := g.next(time.Now())
		cl.Produce(ctx, &kgo.Record{Key: k, Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	if p := failed.Load(); p != nil {
		return 0, *p
	}
	return time.Since(start), ctx.Err()
}

// watcher is a read_committed consumer of an output topic, from its
// start: it counts records and notes when the count reached a target.
type watcher struct {
	cl     *kgo.Client
	target int64
	// onRecords, when set, sees every fetched batch of records with the
	// time it was polled, on the watcher's goroutine.
	onRecords func(now time.Time, recs []*kgo.Record)

	fetching  chan struct{} // closed at the first fetch response
	fetchOnce sync.Once

	// batches and batchRecords count the record batches read and the
	// records in them (control batches included): how the producers
	// batched.
	batches, batchRecords atomic.Int64

	n atomic.Int64
	// first is when the first record was polled (Unix nanoseconds; 0:
	// none yet).
	first   atomic.Int64
	at      time.Time // when n reached target; written before reached closes
	reached chan struct{}
	done    chan struct{}
	err     atomic.Pointer[error]
}

// newWatcher returns a watcher of every partition of topic (partitions of
// them), from offset 0.
func newWatcher(brokers []string, topic string, partitions int, target int64, onRecords func(time.Time, []*kgo.Record)) (*watcher, error) {
	w := &watcher{target: target, onRecords: onRecords, reached: make(chan struct{}), done: make(chan struct{}),
		fetching: make(chan struct{})}
	parts := map[int32]kgo.Offset{}
	for p := range partitions {
		parts[int32(p)] = kgo.NewOffset().At(0)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("pipebench-watch"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.WithHooks(fetchHook{w}))
	if err != nil {
		return nil, err
	}
	w.cl = cl
	return w, nil
}

// fetchHook closes fetching at the watcher's first fetch response and
// counts the record batches read.
type fetchHook struct{ w *watcher }

func (h fetchHook) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	h.w.batches.Add(1)
	h.w.batchRecords.Add(int64(m.NumRecords))
}

func (h fetchHook) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 1 && err == nil { // Fetch
		h.w.fetchOnce.Do(func() { close(h.w.fetching) })
	}
}

// awaitFetching waits until the watcher's fetches run, so that the time
// it takes to start does not count against the pipeline.
func (w *watcher) awaitFetching(ctx context.Context) error {
	select {
	case <-w.fetching:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("output consumer not fetching: %w", ctx.Err())
	}
}

// run consumes until ctx ends, then closes the client.
func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	defer w.cl.Close()
	for {
		fs := w.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		fs.EachError(func(t string, p int32, err error) {
			err = fmt.Errorf("watch %s[%d]: %w", t, p, err)
			w.err.CompareAndSwap(nil, &err)
		})
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if w.onRecords != nil {
			w.onRecords(now, recs)
		}
		w.first.CompareAndSwap(0, now.UnixNano())
		if w.n.Add(int64(len(recs))) >= w.target && w.at.IsZero() {
			w.at = now
			close(w.reached)
		}
	}
}

func (w *watcher) failed() error {
	if p := w.err.Load(); p != nil {
		return *p
	}
	return nil
}

// hwWatch polls the high watermarks of topic until they sum to at least
// target and returns when that was first seen: when the records were
// written, committed or not. With transactions the sum also counts commit
// markers (one per partition and transaction), so it is reached a few
// records early.
func hwWatch(ctx context.Context, adm *kadm.Client, topic string, target int64) time.Time {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Time{}
		case <-t.C:
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil || ends.Error() != nil {
			continue
		}
		var sum int64
		ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
		if sum >= target {
			return time.Now()
		}
	}
}

// cpuMeter reads the CPU time of this process and, if known, of the
// broker.
type cpuMeter struct{ brokerPID int }

func newCPUMeter(pid int) *cpuMeter {
	if pid == 0 {
		if dir := os.Getenv(envRunDir); dir != "" {
			if b, err := os.ReadFile(filepath.Join(dir, "kafka", "kafka.pid")); err == nil {
				pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			}
		}
	}
	if pid > 0 {
		if _, err := procCPU(pid); err != nil {
			pid = 0
		}
	}
	return &cpuMeter{brokerPID: max(pid, 0)}
}

type cpuSample struct{ proc, broker time.Duration }

func (m *cpuMeter) sample() cpuSample {
	var s cpuSample
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.proc = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if m.brokerPID > 0 {
		s.broker, _ = procCPU(m.brokerPID)
	}
	return s
}

func (s cpuSample) sub(t cpuSample) cpuSample {
	return cpuSample{proc: s.proc - t.proc, broker: s.broker - t.broker}
}
