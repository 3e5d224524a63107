package join

import (
	"context"
	"fmt"
	"slices"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// intervalJoin is `join: interval`: a left row at l joins right rows at r
// with r + lower <= l <= r + upper.
type intervalJoin struct {
	base
	rows    [2]*state.Map[timed, []byte]
	meta    *state.Value[meta]
	outs    []operators.Record
	cleaned keySet
}

// Open implements operators.Operator.
func (j *intervalJoin) Open(_ context.Context, oc operators.OpenContext) error {
	if err := j.open(oc); err != nil {
		return err
	}
	for s := range 2 {
		j.rows[s] = state.NewMap(oc.State, oc.Name, "rows."+sideNames[s], seqCodec{}, state.Bytes{})
	}
	j.meta = state.NewValue(oc.State, oc.Name, "meta", metaCodec{})
	return nil
}

// ProcessInput implements operators.MultiInput: input 0 is left, 1 right.
func (j *intervalJoin) ProcessInput(_ context.Context, input int, recs []operators.Record, out operators.Collector) error {
	if input != left && input != right {
		return fmt.Errorf("join %s: input %d: a join has inputs 0 (left) and 1 (right)", j.name, input)
	}
	for i := range recs {
		if err := j.one(input, &recs[i], out); err != nil {
			return err
		}
	}
	return nil
}

// expiry is when a row of side s at t can match nothing more to come:
// once the watermark reaches it.
func (j *intervalJoin) expiry(s int, t int64) int64 {
	if s == left {
		return t - j.cfg.lower
	}
	return t + j.cfg.upper
}

func (j *intervalJoin) one(s int, r *operators.Record, out operators.Collector) error {
	if r.Kind != operators.Insert {
		j.reject(*r, valueErrorf("join %s: an interval join takes inserts only, got %s: its inputs must be append streams", j.name, r.Kind))
		return nil
	}
	t := r.Timestamp
	if t <= j.wm {
		j.emitLate(*r, out)
		return nil
	}
	row, err := appendRow(nil, r)
	if err != nil {
		j.reject(*r, err)
		return nil
	}
	key := r.Key
	skey := string(key)
	own := valueOf(r)
	// The other side's times that match: left l against right r in
	// [l − upper, l − lower]; right r against left l in [r + lower, r + upper].
	lo, hi := t-j.cfg.upper, t-j.cfg.lower
	if s == right {
		lo, hi = t+j.cfg.lower, t+j.cfg.upper
	}
	m, found, err := j.meta.Get(key)
	if err != nil {
		return fmt.Errorf("join %s: %w", j.name, err)
	}
	if !found {
		m.listed = true // a new key lists its rows
	}
	j.outs = j.outs[:0]
	var ferr error
	visit := func(k timed, orow []byte) bool {
		if k.t < lo {
			return true
		}
		if k.t > hi {
			return false
		}
		oval, err := j.decodeRow(orow)
		if err != nil {
			ferr = err
			return false
		}
		l, rr := sides(s, own, oval)
		ts := max(t, k.t)
		v, ok, err := j.pair(skey, l, rr, ts, nil, true)
		if err != nil {
			ferr = err
			return false
		}
		if ok {
			j.outs = append(j.outs, operators.Record{Key: key, Data: v, Timestamp: ts,
				Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		}
		return true
	}
	switch {
	case m.rows[1-s] == 0:
		// Nothing to scan.
	case m.listed:
		// The rows listed in [lo, hi], read by point lookups.
		for _, k := range m.refs[1-s] {
			if k.t < lo {
				continue
			}
			if k.t > hi {
				break
			}
			orow, ok, err := j.rows[1-s].Get(key, k)
			if err == nil && !ok {
				err = fmt.Errorf("%w: row (%d, %d) of the %s side listed but absent", state.ErrCorrupt, k.t, k.seq, sideNames[1-s])
			}
			if err != nil {
				return fmt.Errorf("join %s: %w", j.name, err)
			}
			if !visit(k, orow) {
				break
			}
		}
	default:
		if err := j.rows[1-s].Range(key, visit); err != nil {
			return fmt.Errorf("join %s: %w", j.name, err)
		}
	}
	if ferr != nil {
		if rejectable(ferr) {
			j.reject(*r, ferr)
			return nil
		}
		return ferr
	}
	if exp := j.expiry(s, t); exp > j.wm {
		m.seq++
		m.rows[s]++
		k := timed{t: t, seq: m.seq}
		if m.listed && len(m.refs[s]) < maxListed {
			// In (t, seq) order: after every row at or before t.
			i := len(m.refs[s])
			for i > 0 && m.refs[s][i-1].t > t {
				i--
			}
			m.refs[s] = slices.Insert(m.refs[s], i, k)
		} else {
			m.listed, m.refs = false, [2][]timed{}
		}
		err := j.meta.Put(key, m)
		if err == nil {
			err = j.rows[s].Put(key, k, row)
		}
		if err == nil {
			err = j.timers.Register(state.EventTime, cleanupAt(exp), key)
		}
		if err != nil {
			return fmt.Errorf("join %s: %w", j.name, err)
		}
	}
	for _, o := range j.outs {
		out.Emit(o)
	}
	return nil
}

// OnWatermark implements operators.Operator: rows that can match nothing
// more are dropped.
func (j *intervalJoin) OnWatermark(_ context.Context, wm int64, _ operators.Collector) error {
	ok, err := j.advance(wm)
	if err != nil || !ok {
		return err
	}
	clear(j.cleaned)
	return j.timers.Fire(state.EventTime, j.wm, func(_ int64, key []byte) error {
		// One pass drops every row of the key due by now: the key's later
		// timers of this watermark have nothing left to do.
		if !j.cleaned.add(key) {
			return nil
		}
		m, ok, err := j.meta.Get(key)
		if err != nil || !ok {
			return err
		}
		for s := range 2 {
			if m.rows[s] == 0 {
				continue
			}
			var dropped int64
			if m.listed {
				dropped, err = j.dropListed(s, key, &m)
			} else {
				dropped, err = j.dropUntil(s, key)
			}
			if err != nil {
				return err
			}
			m.rows[s] -= dropped
		}
		if m.rows[left] <= 0 && m.rows[right] <= 0 {
			err = j.meta.Delete(key)
		} else {
			err = j.meta.Put(key, m)
		}
		if err != nil {
			return fmt.Errorf("join %s: %w", j.name, err)
		}
		return nil
	})
}

// dropListed drops the rows of side s whose expiry the watermark reached,
// listed in m (which it updates), and says how many.
func (j *intervalJoin) dropListed(s int, key []byte, m *meta) (int64, error) {
	n := 0
	for n < len(m.refs[s]) && j.expiry(s, m.refs[s][n].t) <= j.wm {
		if err := j.rows[s].Delete(key, m.refs[s][n]); err != nil {
			return 0, fmt.Errorf("join %s: drop expired rows: %w", j.name, err)
		}
		n++
	}
	m.refs[s] = m.refs[s][n:]
	return int64(n), nil
}

// dropUntil drops the rows of side s whose expiry the watermark reached,
// and says how many.
func (j *intervalJoin) dropUntil(s int, key []byte) (dropped int64, err error) {
	var derr error
	err = j.rows[s].Range(key, func(k timed, _ []byte) bool {
		if j.expiry(s, k.t) > j.wm {
			return false
		}
		derr = j.rows[s].Delete(key, k)
		dropped++
		return derr == nil
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return 0, fmt.Errorf("join %s: drop expired rows: %w", j.name, err)
	}
	return dropped, nil
}

var _ operators.MultiInput = (*intervalJoin)(nil)
