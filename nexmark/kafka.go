package nexmark

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Emit is how fast Write produces.
type Emit int

const (
	// EmitMax produces as fast as the broker takes records (Flink's
	// maxEmitSpeed, the benchmark's mode).
	EmitMax Emit = iota
	// EmitRealtime produces event n when its event time, relative to the
	// first event, has passed on the wall clock (Rate events per second).
	EmitRealtime
)

// ParseEmit reads "max" or "realtime".
func ParseEmit(s string) (Emit, error) {
	switch s {
	case "max":
		return EmitMax, nil
	case "realtime":
		return EmitRealtime, nil
	}
	return 0, fmt.Errorf("nexmark: emit %q: want max or realtime", s)
}

func (e Emit) String() string {
	if e == EmitRealtime {
		return "realtime"
	}
	return "max"
}

// WriteOptions say where and how Write writes.
type WriteOptions struct {
	// Topic receives the events; created if missing.
	Topic string
	// Partitions: event n goes to partition n mod Partitions. 0 means the
	// existing topic's partition count, or 1 for a new topic. A topic that
	// exists with another count is refused.
	Partitions int32
	// ReplicationFactor of a new topic; 0 or -1: the broker's default.
	ReplicationFactor int16
	// Events is the number of events to write (from event 0). 0 with
	// EmitRealtime writes until ctx is done; 0 with EmitMax is refused.
	Events int64
	// Emit: EmitMax (default) or EmitRealtime.
	Emit Emit
	// Append allows writing to a topic that already holds records (a
	// second run adds a second copy of the events).
	Append bool
	// Kafka are the client options: at least kgo.SeedBrokers, and TLS or
	// SASL options if needed. Write adds its producer options (manual
	// partitioning, idempotent writes, which are kgo's default and must
	// not be disabled).
	Kafka []kgo.Opt
	// Progress, if set, is called from Write's goroutine about once a
	// second with the figures so far.
	Progress func(Stats)
}

// Stats describe what Write wrote.
type Stats struct {
	Topic      string
	Partitions int32
	// Created is true when Write created the topic.
	Created bool
	// Events written and acknowledged, by kind.
	Events, Persons, Auctions, Bids int64
	// Bytes is the sum of the record values' lengths.
	Bytes int64
	// MinEventTime and MaxEventTime bound the events' dateTime (ms).
	MinEventTime, MaxEventTime int64
	// Elapsed is the time from the first record produced to the last one
	// acknowledged.
	Elapsed time.Duration
	// Digest is the xxHash64 of the record values concatenated in event
	// order: equal digests mean byte-identical topics.
	Digest uint64
}

// EventsPerSecond is Events / Elapsed.
func (s Stats) EventsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Events) / s.Elapsed.Seconds()
}

// ErrTopic marks a topic Write refuses to write to (another partition
// count, or not empty without Append).
var ErrTopic = errors.New("nexmark: unusable topic")

// chunkSize is the number of events a generating goroutine encodes at once.
const chunkSize = 2048

// Write writes the generator's events 0 … o.Events−1 to o.Topic with an
// idempotent producer: event n to partition n mod P, value AppendJSON, no
// key, record timestamp = the wall clock when produced (the event time is in
// the value, so broker retention counts from the write, not from the
// 2025 default base time). Every record is acknowledged before Write
// returns nil. Several goroutines encode; records are produced in event
// order.
func Write(ctx context.Context, gen *Generator, o WriteOptions) (Stats, error) {
	st := Stats{Topic: o.Topic}
	if o.Topic == "" {
		return st, errors.New("nexmark: no topic to write to")
	}
	if o.Events < 0 || (o.Events == 0 && o.Emit != EmitRealtime) {
		return st, fmt.Errorf("nexmark: events = %d: want a positive number (0, unbounded, needs emit realtime)", o.Events)
	}
	opts := append(append([]kgo.Opt(nil), o.Kafka...),
		kgo.DefaultProduceTopic(o.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(100_000),
		// Metadata answers are cached this long: short, so that waiting
		// for a new topic's leaders sees them when they appear.
		kgo.MetadataMinAge(100*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return st, fmt.Errorf("nexmark: kafka client: %w", err)
	}
	defer cl.Close()
	// Bounded: an unreachable broker is an error, not a hang.
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	parts, created, err := ensureTopic(tctx, kadm.NewClient(cl), o)
	cancel()
	if err != nil {
		return st, err
	}
	st.Partitions, st.Created = parts, created
	return produce(ctx, cl, gen, o, st)
}

// ensureTopic creates the topic if missing and returns its partition count.
func ensureTopic(ctx context.Context, adm *kadm.Client, o WriteOptions) (int32, bool, error) {
	td, err := topicDetail(ctx, adm, o.Topic)
	if err != nil {
		return 0, false, fmt.Errorf("%w (is a broker listening at the addresses given?)", err)
	}
	if td.Err == nil {
		have := int32(len(td.Partitions))
		if o.Partitions != 0 && have != o.Partitions {
			return 0, false, fmt.Errorf("%w: topic %s has %d partitions, not %d: use another topic, delete it, or ask for %d partitions",
				ErrTopic, o.Topic, have, o.Partitions, have)
		}
		if !o.Append {
			n, err := topicRecords(ctx, adm, o.Topic)
			if err != nil {
				return 0, false, err
			}
			if n > 0 {
				return 0, false, fmt.Errorf("%w: topic %s already holds %d records: a second run would add a second copy; use a new topic, delete it, or allow appending",
					ErrTopic, o.Topic, n)
			}
		}
		return have, false, nil
	}
	if !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return 0, false, fmt.Errorf("nexmark: metadata of topic %s: %w", o.Topic, td.Err)
	}
	parts := max(o.Partitions, 1)
	rf := o.ReplicationFactor
	if rf == 0 {
		rf = -1
	}
	resp, err := adm.CreateTopic(ctx, parts, rf, nil, o.Topic)
	if err == nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		err = resp.Err
	}
	if err != nil {
		return 0, false, fmt.Errorf("nexmark: creating topic %s with %d partitions: %w", o.Topic, parts, err)
	}
	// Wait (bounded) until every partition has a leader, so the first
	// produce does not race the creation.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		td, err := topicDetail(ctx, adm, o.Topic)
		if err == nil && td.Err == nil && int32(len(td.Partitions)) == parts && allLeaders(td) {
			return parts, true, nil
		}
		select {
		case <-ctx.Done():
			return 0, false, fmt.Errorf("nexmark: topic %s created but its partitions have no leaders yet: %w", o.Topic, ctx.Err())
		case <-tick.C:
		}
	}
}

func topicDetail(ctx context.Context, adm *kadm.Client, topic string) (kadm.TopicDetail, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return kadm.TopicDetail{}, fmt.Errorf("nexmark: metadata of topic %s: %w", topic, err)
	}
	td, ok := md.Topics[topic]
	if !ok {
		return kadm.TopicDetail{Topic: topic, Err: kerr.UnknownTopicOrPartition}, nil
	}
	return td, nil
}

func allLeaders(td kadm.TopicDetail) bool {
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

func topicRecords(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("nexmark: end offsets of topic %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("nexmark: start offsets of topic %s: %w", topic, err)
	}
	var n int64
	ends.Each(func(e kadm.ListedOffset) {
		if s, ok := starts.Lookup(topic, e.Partition); ok {
			n += e.Offset - s.Offset
		}
	})
	return n, nil
}

// produce runs the encoding goroutines and produces their chunks in order.
func produce(ctx context.Context, cl *kgo.Client, gen *Generator, o WriteOptions, st Stats) (Stats, error) {
	// Records are produced under pctx, which only a failed write ends:
	// stopping on ctx still delivers what was produced. The encoders stop
	// on either.
	pctx, pcancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer pcancel(nil)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	defer context.AfterFunc(pctx, wcancel)()

	workers := max(1, min(runtime.GOMAXPROCS(0), 4))
	chans := make([]chan chunk, workers)
	var wg sync.WaitGroup
	defer wg.Wait() // runs after wcancel (deferred later, runs first)
	for w := range workers {
		ch := make(chan chunk, 2)
		chans[w] = ch
		g := gen.Clone()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			encodeChunks(wctx, g, o.Events, int64(w), int64(workers), st.Partitions, ch)
		}()
	}
	defer wcancel()

	var (
		mu       sync.Mutex
		acked    int64
		firstErr error
	)
	promise := func(r *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("nexmark: writing to topic %s partition %d: %w", r.Topic, r.Partition, err)
			pcancel(firstErr)
		}
		if err == nil {
			acked++
		}
	}
	digest := xxhash.New()
	cfg := gen.Config()
	var start, lastProgress, wallNow time.Time
	var stopped error
loop:
	for i := int64(0); ; i++ {
		c, ok := <-chans[i%int64(workers)]
		if !ok {
			break // all events encoded, or stopping
		}
		if start.IsZero() {
			start = time.Now()
			wallNow = start
		}
		for j, r := range c.records {
			n := c.first + int64(j)
			if o.Emit == EmitRealtime {
				due := start.Add(time.Duration(cfg.WallOffset(n)) * time.Millisecond)
				if due.After(wallNow) {
					if wallNow = time.Now(); due.After(wallNow) {
						if err := sleepUntil(wctx, due); err != nil {
							stopped = err
							break loop
						}
						wallNow = due
					}
				}
			}
			digest.Write(r.Value)
			st.add(c.kinds[j], c.times[j], int64(len(r.Value)))
			cl.Produce(pctx, r, promise) // blocks while the buffer is full
			if pctx.Err() != nil {
				break loop // a write failed: firstErr says which
			}
		}
		if o.Progress != nil && time.Since(lastProgress) >= time.Second {
			lastProgress = time.Now()
			p := st
			p.Elapsed = time.Since(start)
			o.Progress(p)
		}
	}
	if stopped == nil {
		stopped = context.Cause(wctx)
	}
	// Deliver what was produced, even when stopping early (bounded).
	fctx, fcancel := context.WithTimeout(pctx, 2*time.Minute)
	defer fcancel()
	ferr := cl.Flush(fctx)
	if !start.IsZero() {
		st.Elapsed = time.Since(start)
	}
	st.Digest = digest.Sum64()
	mu.Lock()
	defer mu.Unlock()
	switch {
	case firstErr != nil:
		return st, firstErr
	case ferr != nil:
		return st, fmt.Errorf("nexmark: flushing %d records to topic %s: %w", st.Events-acked, o.Topic, ferr)
	case acked != st.Events:
		return st, fmt.Errorf("nexmark: %d of %d records to topic %s acknowledged", acked, st.Events, o.Topic)
	case stopped != nil && (o.Events > 0 || !errors.Is(stopped, context.Canceled)):
		return st, fmt.Errorf("nexmark: stopped after %d of %d events: %w", st.Events, o.Events, stopped)
	}
	return st, nil
}

type chunk struct {
	first   int64
	records []*kgo.Record
	kinds   []Kind
	times   []int64
}

// encodeChunks encodes chunks w, w+k, w+2k, … of events [0, events)
// (events 0: unbounded) into ch, until ctx ends.
func encodeChunks(ctx context.Context, g *Generator, events, w, k int64, parts int32, ch chan<- chunk) {
	for c := w; ctx.Err() == nil; c += k {
		first := c * chunkSize
		if events > 0 && first >= events {
			return
		}
		n := int64(chunkSize)
		if events > 0 {
			n = min(n, events-first)
		}
		out := chunk{first: first, records: make([]*kgo.Record, n), kinds: make([]Kind, n), times: make([]int64, n)}
		recs := make([]kgo.Record, n)
		ends := make([]int, n)
		slab := make([]byte, 0, n*320)
		for i := range n {
			ev := g.Event(first + i)
			slab = AppendJSON(slab, &ev)
			ends[i] = len(slab)
			out.kinds[i], out.times[i] = ev.Kind, ev.DateTime()
		}
		off := 0
		for i := range recs {
			recs[i].Partition = int32((first + int64(i)) % int64(parts))
			recs[i].Value = slab[off:ends[i]:ends[i]]
			off = ends[i]
			out.records[i] = &recs[i]
		}
		select {
		case ch <- out:
		case <-ctx.Done():
			return
		}
	}
}

func (s *Stats) add(k Kind, t, size int64) {
	if s.Events == 0 || t < s.MinEventTime {
		s.MinEventTime = t
	}
	if s.Events == 0 || t > s.MaxEventTime {
		s.MaxEventTime = t
	}
	s.Events++
	s.Bytes += size
	switch k {
	case KindPerson:
		s.Persons++
	case KindAuction:
		s.Auctions++
	default:
		s.Bids++
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
