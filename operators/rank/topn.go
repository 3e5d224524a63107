package rank

import (
	"context"
	"fmt"
	"maps"
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/internal/rowcodec"
	"github.com/tidemark/tidemark/operators/state"
	"github.com/tidemark/tidemark/plugin"
)

// orderBy is one part of the order: an expression and its direction.
type orderBy struct {
	expr *plugin.Expr
	desc bool
}

// cacheKeys bounds the partitions whose top n a continuous TopN keeps
// decoded in memory (a cache of its state, which it alone writes).
const cacheKeys = 4096

// TopN is the top_n operator (see the package doc). Records arrive keyed
// by the partition (the planner sets Record.Key from partition_by).
type TopN struct {
	path      string
	partition []*plugin.Expr // for the output key of a numbered row
	order     []orderBy
	n         int
	rankField string
	win       *windows // nil: continuous
	late      prometheus.Counter

	name   string
	reject func(operators.Record, error)
	env    expression.Env
	dec    rowcodec.Decoder

	rows   *state.Value[[]byte]      // continuous
	wrows  *state.Map[int64, []byte] // windowed: start → end + list
	timers *state.Timers             // windowed
	wmVal  *state.Value[int64]       // windowed
	wmKey  []byte                    // windowed
	wm     int64                     // windowed
	cache  map[string]topList        // continuous
	buf    []byte
	wins   [][2]int64
}

// Open implements operators.Operator.
func (t *TopN) Open(_ context.Context, oc operators.OpenContext) error {
	t.name = oc.Name
	t.reject = oc.Reject
	if t.reject == nil {
		t.reject = func(operators.Record, error) {}
	}
	t.wm = math.MinInt64
	if t.win == nil {
		t.rows = state.NewValue(oc.State, oc.Name, "rows", state.Bytes{})
		t.cache = map[string]topList{}
		return nil
	}
	t.wrows = state.NewMap(oc.State, oc.Name, "rows", state.Int64{}, state.Bytes{})
	t.timers = state.NewTimers(oc.State, oc.Name)
	t.wmVal = state.NewValue(oc.State, oc.Name, "watermark", state.Int64{})
	if t.wmKey = rowcodec.TaskKey(oc.State, "task/"); t.wmKey != nil {
		wm, ok, err := t.wmVal.Get(t.wmKey)
		if err != nil {
			return fmt.Errorf("top_n %s: restore the watermark: %w", oc.Name, err)
		}
		if ok {
			t.wm = wm
		}
	}
	return nil
}

// sortKey evaluates the order of the record in t.env.
func (t *TopN) sortKey(dst []byte) ([]byte, error) {
	for _, o := range t.order {
		v, err := o.expr.Eval(&t.env)
		if err != nil {
			return dst, err
		}
		if dst, err = appendSortValue(dst, v, o.desc); err != nil {
			return dst, fmt.Errorf("%s: order_by %s: %w", t.path, o.expr.Source(), err)
		}
	}
	return dst, nil
}

// newEntry makes the entry of r, which t.env holds: its sort key, and
// r itself; the row is encoded by encode, once it enters a top n.
func (t *TopN) newEntry(r *operators.Record) (entry, error) {
	sk, err := t.sortKey(nil)
	if err != nil {
		return entry{}, err
	}
	if t.rankField != "" {
		if _, ok := r.Data.(map[string]any); !ok {
			return entry{}, fmt.Errorf("%s: rank_field %q needs an object value, got %s", t.path, t.rankField, describe(r))
		}
	}
	rec := *r
	rec.Kind = operators.Insert
	if rec.Data != nil {
		rec.Value = nil // as the row reads back from state
	}
	return entry{sortKey: sk, rec: &rec}, nil
}

// encode encodes e's record as its row, if not done yet.
func (t *TopN) encode(e *entry) error {
	if e.row != nil {
		return nil
	}
	row, err := rowcodec.Append(nil, e.rec)
	if err != nil {
		return &recordError{fmt.Errorf("%s: %w", t.path, err)}
	}
	e.row = row
	return nil
}

func describe(r *operators.Record) string {
	switch r.Data.(type) {
	case nil:
		if r.Value != nil {
			return "an undecoded value (format raw)"
		}
		return "null"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a %T", r.Data)
}

// Process implements operators.Operator.
func (t *TopN) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for i := range recs {
		r := &recs[i]
		if r.Kind != operators.Insert {
			t.reject(*r, fmt.Errorf("%s: a %s record: top_n takes an append-only input (inserts only)", t.path, r.Kind))
			continue
		}
		t.env.SetRecord(r)
		e, err := t.newEntry(r)
		if err != nil {
			t.reject(*r, err)
			continue
		}
		if t.win == nil {
			if err := t.processContinuous(r, e, out); err != nil {
				if ee := asRecordError(err); ee != nil {
					t.reject(*r, ee)
					continue
				}
				return err
			}
			continue
		}
		if err := t.processWindowed(r, e, out); err != nil {
			if ee := asRecordError(err); ee != nil {
				t.reject(*r, ee)
				continue
			}
			return err
		}
	}
	return nil
}

// recordError is an error of one record (it goes to the dead letters),
// not of the operator.
type recordError struct{ err error }

func (e *recordError) Error() string { return e.err.Error() }
func (e *recordError) Unwrap() error { return e.err }

func asRecordError(err error) error {
	if re, ok := err.(*recordError); ok {
		return re.err
	}
	return nil
}

func (t *TopN) load(key []byte) (topList, error) {
	if l, ok := t.cache[string(key)]; ok {
		return l, nil
	}
	b, ok, err := t.rows.Get(key)
	if err != nil || !ok {
		return nil, err
	}
	return parseList(b)
}

func (t *TopN) store(key []byte, l topList) error {
	t.buf = appendList(t.buf[:0], l)
	if err := t.rows.Put(key, t.buf); err != nil {
		return err
	}
	if len(t.cache) >= cacheKeys {
		clear(t.cache)
	}
	t.cache[string(key)] = l
	return nil
}

func (t *TopN) processContinuous(r *operators.Record, e entry, out operators.Collector) error {
	old, err := t.load(r.Key)
	if err != nil {
		return err
	}
	p := old.insertPos(e.sortKey)
	if p >= t.n {
		return nil // outside the top n: nothing changes
	}
	if err := t.encode(&e); err != nil {
		return err
	}
	oldLen := len(old)
	// The old rows at p… move down one: keep them for the retractions.
	var moved []entry
	if t.rankField != "" {
		moved = append(moved, old[p:]...)
	}
	l, pushed := append(topList(nil), old...).insert(p, e, t.n)
	if err := t.store(r.Key, l); err != nil {
		return err
	}
	if t.rankField == "" {
		if pushed != nil {
			rec, err := t.record(pushed)
			if err != nil {
				return err
			}
			rec.Kind = operators.Delete
			out.Emit(rec)
		}
		rec, _ := t.record(&l[p])
		out.Emit(rec)
		return nil
	}
	// Numbered rows: every position from p on changed.
	var pvals []any
	for _, x := range t.partition {
		v, err := x.Eval(&t.env)
		if err != nil {
			return &recordError{err}
		}
		pvals = append(pvals, v)
	}
	for i := p; i < len(l); i++ {
		if i < oldLen {
			before, err := t.numbered(&moved[i-p], i+1, pvals)
			if err != nil {
				return err
			}
			before.Kind = operators.UpdateBefore
			out.Emit(before)
		}
		after, err := t.numbered(&l[i], i+1, pvals)
		if err != nil {
			return err
		}
		if i < oldLen {
			after.Kind = operators.UpdateAfter
		}
		out.Emit(after)
	}
	return nil
}

// record returns the record of e, decoding it the first time.
func (t *TopN) record(e *entry) (operators.Record, error) {
	if e.rec == nil {
		rec, err := t.dec.Decode(e.row)
		if err != nil {
			return rec, fmt.Errorf("top_n %s: %w", t.name, err)
		}
		e.rec = &rec
	}
	return *e.rec, nil
}

// numbered returns e's record with rank in the rank field and the key
// [partition…, rank] (pvals nil: the key is kept).
func (t *TopN) numbered(e *entry, rank int, pvals []any) (operators.Record, error) {
	rec, err := t.record(e)
	if err != nil {
		return rec, err
	}
	obj, _ := rec.Data.(map[string]any)
	v := make(map[string]any, len(obj)+1)
	maps.Copy(v, obj)
	v[t.rankField] = int64(rank)
	rec.Data, rec.Value = v, nil
	if pvals != nil {
		key, err := expression.AppendKey(nil, append(pvals[:len(pvals):len(pvals)], int64(rank)))
		if err != nil {
			return rec, &recordError{fmt.Errorf("%s: output key: %w", t.path, err)}
		}
		rec.Key = key
	}
	return rec, nil
}

func (t *TopN) processWindowed(r *operators.Record, e entry, out operators.Collector) error {
	var err error
	if t.wins, err = t.win.assign(t.wins[:0], r); err != nil {
		return &recordError{fmt.Errorf("%s: %w", t.path, err)}
	}
	added := false
	for _, w := range t.wins {
		start, end := w[0], w[1]
		if end-1 <= t.wm {
			continue // fired already
		}
		added = true
		b, ok, err := t.wrows.Get(r.Key, start)
		if err != nil {
			return err
		}
		var l topList
		if ok {
			if end, b, err = splitEnd(b); err != nil {
				return err
			}
			if l, err = parseList(b); err != nil {
				return err
			}
		} else if err := t.timers.Register(state.EventTime, end-1, r.Key); err != nil {
			return err
		}
		p := l.insertPos(e.sortKey)
		if p >= t.n {
			continue
		}
		if err := t.encode(&e); err != nil {
			return err
		}
		l, _ = l.insert(p, e, t.n)
		t.buf = appendList(appendEnd(t.buf[:0], end), l)
		if err := t.wrows.Put(r.Key, start, t.buf); err != nil {
			return err
		}
	}
	if !added {
		if t.late != nil {
			t.late.Inc()
		}
		if pc, ok := out.(operators.PortCollector); ok {
			pc.EmitTo(1, *r)
		}
	}
	return nil
}

// OnWatermark implements operators.Operator: windows whose end − 1 the
// watermark reached emit their top n, numbered, and are dropped.
func (t *TopN) OnWatermark(_ context.Context, wm int64, out operators.Collector) error {
	if t.win == nil || wm <= t.wm {
		return nil
	}
	t.wm = wm
	if t.wmKey != nil {
		if err := t.wmVal.Put(t.wmKey, wm); err != nil {
			return err
		}
	}
	return t.timers.Fire(state.EventTime, wm, func(ts int64, key []byte) error {
		type due struct {
			start, end int64
			list       []byte
		}
		var fire []due
		var ferr error
		err := t.wrows.Range(key, func(start int64, b []byte) bool {
			end, rest, err := splitEnd(b)
			if err != nil {
				ferr = err
				return false
			}
			if end-1 <= ts {
				fire = append(fire, due{start, end, rest})
			}
			return true
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
		for _, d := range fire {
			l, err := parseList(d.list)
			if err != nil {
				return err
			}
			for i := range l {
				rec, err := t.record(&l[i])
				if err != nil {
					return err
				}
				if t.rankField != "" {
					if rec, err = t.numbered(&l[i], i+1, nil); err != nil {
						return err
					}
				}
				rec.Kind = operators.Insert
				rec.Key = key
				rec.Timestamp = d.end - 1
				rec.WindowStart, rec.WindowEnd = d.start, d.end
				out.Emit(rec)
			}
			if err := t.wrows.Delete(key, d.start); err != nil {
				return err
			}
		}
		return nil
	})
}

func appendEnd(dst []byte, end int64) []byte {
	v, _ := state.Int64{}.Encode(end)
	return append(dst, v...)
}

func splitEnd(b []byte) (int64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, fmt.Errorf("%w: window entry of %d bytes", rowcodec.ErrCorrupt, len(b))
	}
	end, err := state.Int64{}.Decode(b[:8])
	return end, b[8:], err
}

// SnapshotState implements operators.Operator.
func (t *TopN) SnapshotState(context.Context, int64) error { return nil }

// NotifyCheckpointComplete implements operators.Operator.
func (t *TopN) NotifyCheckpointComplete(context.Context, int64) error { return nil }

// Close implements operators.Operator.
func (t *TopN) Close() error { return nil }
