package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/internal/benchfmt"
	"github.com/tidemark/tidemark/internal/kafkabench"
)

var (
	fmtRate  = benchfmt.Rate
	fmtDur   = benchfmt.Dur
	fmtNs    = benchfmt.Ns
	fmtBytes = benchfmt.Bytes
	median   = benchfmt.Median
)

// env is what every run of one invocation shares.
type env struct {
	o         options
	runID     string
	adm       *kadm.Client
	brokerPID int
	sys       map[string]*system
	topics    []string // created, to delete at the end
}

func (e *env) topic(name string) string { return "peerbench-" + e.runID + "-" + name }

// describeBroker names the broker's version.
func (e *env) describeBroker(ctx context.Context) string {
	var vs []string
	if avs, err := e.adm.ApiVersions(ctx); err == nil {
		avs.Each(func(v kadm.BrokerApiVersions) {
			if v.Err == nil {
				vs = append(vs, v.VersionGuess())
			}
		})
	}
	if len(vs) == 0 {
		return "version unknown"
	}
	return strings.Join(vs, ", ")
}

// createTopics creates fresh topics of o.partitions partitions, remembers
// them for the clean-up and waits until every partition has a leader.
func (e *env) createTopics(ctx context.Context, names ...string) error {
	// Remembered first: a topic created before a failure is deleted too.
	e.topics = append(e.topics, names...)
	return kafkabench.CreateTopics(ctx, e.adm, e.o.partitions, names...)
}

// deleteTopics deletes topics (and, with a prefix ending in "*", every
// topic that starts with it: Kafka Streams' internal topics); failures are
// only reported.
func (e *env) deleteTopics(ctx context.Context, names ...string) {
	if e.o.keep || len(names) == 0 {
		return
	}
	var del []string
	for _, n := range names {
		if prefix, ok := strings.CutSuffix(n, "*"); ok {
			if td, err := e.adm.ListTopics(ctx); err == nil {
				for _, t := range td.Names() {
					if strings.HasPrefix(t, prefix) {
						del = append(del, t)
					}
				}
			}
			continue
		}
		del = append(del, n)
	}
	slices.Sort(del)
	del = slices.Compact(del) // a topic named twice fails the whole request
	if len(del) == 0 {
		return
	}
	resp, err := e.adm.DeleteTopics(ctx, del...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) { // already deleted
		progress("warning: delete topics %v: %v", del, err)
	}
	e.topics = slices.DeleteFunc(e.topics, func(t string) bool { return slices.Contains(del, t) })
}

// cleanup deletes the topics the run created, unless -keep.
func (e *env) cleanup(ctx context.Context) {
	e.deleteTopics(ctx, append(slices.Clone(e.topics), e.topic("*"))...)
}

// producer returns a producer of topic with the client's defaults
// (idempotent, acks=all) and linger 0.
func (e *env) producer(topic string) (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(e.o.brokers...), kgo.ClientID("peerbench-fill"), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(0), kgo.MaxBufferedBytes(256<<20))
}

// produceAll produces n records made by next into topic and waits for
// them.
func produceAll(ctx context.Context, cl *kgo.Client, n int64, next func(i int64) *kgo.Record) error {
	var failed atomic.Pointer[error]
	for i := range n {
		if failed.Load() != nil || ctx.Err() != nil {
			break
		}
		cl.Produce(ctx, next(i), func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if p := failed.Load(); p != nil {
		return *p
	}
	return ctx.Err()
}

// fillRandom produces o.records generated records (random keys of
// o.keys) into topic, created here, and returns each key's record count.
func (e *env) fillRandom(ctx context.Context, topic string) ([]int32, time.Duration, error) {
	if err := e.createTopics(ctx, topic); err != nil {
		return nil, 0, err
	}
	cl, err := e.producer(topic)
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	g := kafkabench.NewGen(e.o.keys, e.o.valueSize, e.o.seed)
	expected := make([]int32, e.o.keys)
	start := time.Now()
	err = produceAll(ctx, cl, e.o.records, func(int64) *kgo.Record {
		k, key, val := g.Next(time.Now())
		expected[k]++
		return &kgo.Record{Key: key, Value: val}
	})
	return expected, time.Since(start), err
}

// recoveryGen generates the recovery input: keys of o.recKeySize bytes.
func (e *env) recoveryGen(keys int) *kafkabench.Gen {
	return kafkabench.NewGen(keys, kafkabench.MinValueSize, e.o.seed+2).PadKeys(e.o.recKeySize)
}

// fillKeys produces one record of each of keys keys into topic, created
// here.
func (e *env) fillKeys(ctx context.Context, topic string, keys int) (time.Duration, error) {
	if err := e.createTopics(ctx, topic); err != nil {
		return 0, err
	}
	cl, err := e.producer(topic)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	g := e.recoveryGen(keys)
	start := time.Now()
	err = produceAll(ctx, cl, int64(keys), func(i int64) *kgo.Record {
		return &kgo.Record{Key: g.Key(int(i)), Value: g.Value(time.Now())}
	})
	return time.Since(start), err
}

// reader is a read_committed consumer of an output topic from its start:
// it keeps every output's (key, count) for the check, counts records and
// notes when the count reached a target.
type reader struct {
	cl *kgo.Client
	// onRecord, when set, sees every output on the reader's goroutine with
	// the time of its poll, its key index and count.
	onRecord func(now time.Time, k, n int)

	fetching  chan struct{} // closed at the first fetch response
	fetchOnce sync.Once

	n       atomic.Int64
	target  int64
	first   time.Time // first record's poll; written before firstCh closes
	firstCh chan struct{}
	at      time.Time // when n reached target; written before reached closes
	reached chan struct{}
	done    chan struct{}
	err     atomic.Pointer[error]

	// outs[k] are key k's counts seen, in order; bad the outputs that were
	// not a generated key with a decimal count. Owned by the reader's
	// goroutine until done.
	outs [][]uint32
	bad  []string
}

// newReader returns a reader of every partition of topic, keys keys,
// from offset 0.
func (e *env) newReader(topic string, keys int, target int64, onRecord func(time.Time, int, int)) (*reader, error) {
	r := &reader{onRecord: onRecord, target: target, fetching: make(chan struct{}), firstCh: make(chan struct{}),
		reached: make(chan struct{}), done: make(chan struct{}), outs: make([][]uint32, keys)}
	parts := map[int32]kgo.Offset{}
	for p := range e.o.partitions {
		parts[int32(p)] = kgo.NewOffset().At(0)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.o.brokers...), kgo.ClientID("peerbench-read"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.WithHooks(fetchHook{r}))
	if err != nil {
		return nil, err
	}
	r.cl = cl
	return r, nil
}

// fetchHook closes fetching at the reader's first fetch response.
type fetchHook struct{ r *reader }

func (h fetchHook) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 1 && err == nil { // Fetch
		h.r.fetchOnce.Do(func() { close(h.r.fetching) })
	}
}

// start runs the reader until ctx ends and waits until it fetches, so
// that its start-up does not count against a system. The reader is done
// (r.done) once ctx ended.
func (r *reader) start(ctx context.Context) error {
	go r.run(ctx)
	select {
	case <-r.fetching:
		return nil
	case <-r.done:
		return fmt.Errorf("output reader: %v", r.failed())
	case <-time.After(30 * time.Second):
		return fmt.Errorf("output reader not fetching after 30s")
	}
}

func (r *reader) run(ctx context.Context) {
	defer close(r.done)
	defer r.cl.Close()
	for {
		fs := r.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		fs.EachError(func(t string, p int32, err error) {
			err = fmt.Errorf("read %s[%d]: %w", t, p, err)
			r.err.CompareAndSwap(nil, &err)
		})
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		for _, rec := range recs {
			k, kok := kafkabench.KeyIndex(rec.Key)
			n, nerr := strconv.ParseUint(string(rec.Value), 10, 31)
			if !kok || k >= len(r.outs) || nerr != nil || n == 0 {
				if len(r.bad) < 5 {
					r.bad = append(r.bad, fmt.Sprintf("partition %d offset %d: key %.40q, value %.40q", rec.Partition, rec.Offset, rec.Key, rec.Value))
				}
				continue
			}
			r.outs[k] = append(r.outs[k], uint32(n))
			if r.onRecord != nil {
				r.onRecord(now, k, int(n))
			}
		}
		if r.first.IsZero() {
			r.first = now
			close(r.firstCh)
		}
		if r.n.Add(int64(len(recs))) >= r.target && r.at.IsZero() {
			r.at = now
			close(r.reached)
		}
	}
}

func (r *reader) failed() error {
	if p := r.err.Load(); p != nil {
		return *p
	}
	return nil
}

// check compares the outputs a finished reader saw with the input:
// key k must have the counts 1..expected[k], each exactly once.
func (r *reader) check(expected []int32) error {
	return checkCounts(expected, r.outs, r.bad)
}

// checkCounts is the check of outs (each key's counts seen) against
// expected (each key's records in the input); bad are outputs that were
// not a key and a count.
func checkCounts(expected []int32, outs [][]uint32, bad []string) error {
	var problems []string
	nbad := 0
	add := func(format string, args ...any) {
		nbad++
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	for _, b := range bad {
		add("not a generated key and a count: %s", b)
	}
	var want, got int64
	for k, n := range expected {
		want += int64(n)
		var seen []uint32
		if k < len(outs) {
			seen = outs[k]
		}
		got += int64(len(seen))
		if len(seen) == int(n) && inOrder(seen) {
			continue
		}
		s := slices.Clone(seen)
		slices.Sort(s)
		var missing, dup, extra []uint32
		j := 0
		for c := uint32(1); c <= uint32(n); c++ {
			found := false
			for j < len(s) && s[j] == c {
				if found {
					dup = append(dup, c)
				}
				found = true
				j++
			}
			if !found {
				missing = append(missing, c)
			}
		}
		extra = s[j:]
		if len(missing)+len(dup)+len(extra) == 0 {
			continue // all there, in another order: a key's outputs may interleave across partitions
		}
		add("key %d (%d input records): %d outputs; counts missing %s, duplicated %s, beyond the input %s",
			k, n, len(seen), firstFew(missing), firstFew(dup), firstFew(extra))
	}
	for k := len(expected); k < len(outs); k++ {
		if len(outs[k]) > 0 {
			got += int64(len(outs[k]))
			add("key %d: %d outputs for a key not in the input", k, len(outs[k]))
		}
	}
	if nbad == 0 {
		return nil
	}
	return fmt.Errorf("output wrong: %d input records, %d outputs, %d problems; the first: %s",
		want, got, nbad, strings.Join(problems, "; "))
}

func inOrder(s []uint32) bool {
	for i, c := range s {
		if c != uint32(i+1) {
			return false
		}
	}
	return true
}

func firstFew(xs []uint32) string {
	if len(xs) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, x := range xs {
		if i == 5 {
			fmt.Fprintf(&b, " … (%d)", len(xs))
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, x)
	}
	return b.String()
}
