package main

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// benchTopic names the generated records' origin in checkpoint positions.
const benchTopic = "ckptbench"

// keyWidth is the number of digits of a generated key ("k0000000042").
const keyWidth = 10

// counters are shared between the source, the keyed tasks and the driver.
type counters struct {
	// emitted counts records the source returned, processed records the
	// keyed tasks wrote into state.
	emitted, processed atomic.Int64
	// triggers counts checkpoint barriers the source emitted (each calls
	// Positions once); lagging counts those that found records emitted
	// but not yet written into state, so the barrier queued behind them.
	triggers, lagging atomic.Int64
	// done is set once a build source has emitted every key.
	done atomic.Bool
}

// genSource generates records lazily and deterministically, so no input is
// ever held in memory. Its one partition's offset is the number of records
// it emitted.
//
// Building (updates == 0), it emits keys 0..keys-1 in order, batch records
// per Poll, each with a fresh random value, then waits.
//
// Updating (updates > 0), it emits one epoch of updates random keys with
// fresh random values in a single Poll, and then waits until the next
// checkpoint barrier before it emits the next epoch. A source task asks
// for Positions exactly when it emits a barrier, between two Polls, so
// that is the barrier hook; and since a barrier cannot fall inside one
// Poll's records, every checkpoint after the first holds exactly one epoch.
type genSource struct {
	keys      int64
	valueSize int
	batch     int
	updates   int
	seed      uint64
	c         *counters

	offset int64
	armed  bool // updating: emit an epoch at the next Poll
	rng    *rand.Rand
}

func newBuildSource(keys int64, valueSize, batch int, seed uint64, c *counters) *genSource {
	return &genSource{keys: keys, valueSize: valueSize, batch: batch, seed: seed, c: c}
}

func newUpdateSource(keys int64, valueSize, updates int, seed uint64, c *counters) *genSource {
	return &genSource{keys: keys, valueSize: valueSize, updates: updates, seed: seed, c: c}
}

// Open implements operators.Source.
func (s *genSource) Open(_ context.Context, restored []operators.Position) error {
	for _, p := range restored {
		if p.Topic == benchTopic && p.Partition == 0 {
			s.offset = p.Offset
		}
	}
	s.rng = rand.New(rand.NewPCG(s.seed, uint64(s.offset)))
	s.armed = true
	return nil
}

// Poll implements operators.Source.
func (s *genSource) Poll(ctx context.Context) ([]operators.Record, int64, error) {
	var recs []operators.Record
	switch {
	case s.updates == 0 && s.offset < s.keys:
		n := int(min(int64(s.batch), s.keys-s.offset))
		recs = s.records(n, func(i int) int64 { return s.offset + int64(i) })
		if s.offset+int64(n) == s.keys {
			s.c.done.Store(true)
		}
	case s.updates > 0 && s.armed:
		s.armed = false
		recs = s.records(s.updates, func(int) int64 { return s.rng.Int64N(s.keys) })
	default:
		<-ctx.Done()
		return nil, math.MinInt64, nil
	}
	s.offset += int64(len(recs))
	s.c.emitted.Add(int64(len(recs)))
	return recs, math.MinInt64, nil
}

// records makes n records of the keys key(0..n-1), backed by one buffer.
func (s *genSource) records(n int, key func(i int) int64) []operators.Record {
	kl := 1 + keyWidth
	buf := make([]byte, n*(kl+s.valueSize))
	recs := make([]operators.Record, n)
	for i := range recs {
		b := buf[i*(kl+s.valueSize) : (i+1)*(kl+s.valueSize)]
		appendKey(b[:0], key(i))
		v := b[kl:]
		for j := 0; j < len(v); j += 8 {
			var w [8]byte
			binary.LittleEndian.PutUint64(w[:], s.rng.Uint64())
			copy(v[j:], w[:])
		}
		recs[i] = operators.Record{Key: b[:kl:kl], Value: v}
	}
	return recs
}

// appendKey appends "k" and i in keyWidth zero-padded digits.
func appendKey(b []byte, i int64) []byte {
	b = append(b, 'k')
	d := strconv.AppendInt(nil, i, 10)
	for range keyWidth - len(d) {
		b = append(b, '0')
	}
	return append(b, d...)
}

// Positions implements operators.Source; it is also the barrier hook (see
// genSource).
func (s *genSource) Positions() []operators.Position {
	if s.updates > 0 {
		s.armed = true
		s.c.triggers.Add(1)
		if s.c.processed.Load() < s.c.emitted.Load() {
			s.c.lagging.Add(1)
		}
	}
	return []operators.Position{{Topic: benchTopic, Partition: 0, Offset: s.offset}}
}

// NotifyCheckpointComplete implements operators.Source.
func (s *genSource) NotifyCheckpointComplete(context.Context, int64, []operators.Position) error {
	return nil
}

// Close implements operators.Source.
func (s *genSource) Close() error { return nil }

// writer puts every record's value into value state under its key.
type writer struct {
	operators.Base
	c    *counters
	vals *state.Value[[]byte]
}

// Open implements operators.Operator.
func (w *writer) Open(_ context.Context, oc operators.OpenContext) error {
	w.vals = state.NewValue(oc.State, oc.Name, "value", state.Bytes{})
	return nil
}

// Process implements operators.Operator.
func (w *writer) Process(_ context.Context, recs []operators.Record, _ operators.Collector) error {
	for _, r := range recs {
		if err := w.vals.Put(r.Key, r.Value); err != nil {
			return err
		}
	}
	w.c.processed.Add(int64(len(recs)))
	return nil
}
