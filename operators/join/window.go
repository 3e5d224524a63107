package join

import (
	"context"
	"fmt"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// windows assigns records to the windows of a window join.
type windows struct {
	typ                 string
	size, slide, offset int64 // ms; slide = size for tumbling
}

// window is [start, end) in ms.
type window struct{ start, end int64 }

// assign appends the windows of r to dst, by start; an error for an
// attached window on a record without one.
func (w windows) assign(dst []window, r *operators.Record) ([]window, error) {
	if w.typ == Attached {
		if !r.HasWindow() {
			return dst, valueErrorf("window join with window.type attached: the record carries no window (its input must come from a window aggregate)")
		}
		return append(dst, window{r.WindowStart, r.WindowEnd}), nil
	}
	t := r.Timestamp
	last := floorDiv(t-w.offset, w.slide)*w.slide + w.offset
	first := last - (w.size/w.slide-1)*w.slide
	for s := first; s <= last; s += w.slide {
		if t < s+w.size {
			dst = append(dst, window{s, s + w.size})
		}
	}
	return dst, nil
}

// floorDiv is ⌊a/b⌋ for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// windowJoin is `join: window`.
type windowJoin struct {
	base
	rows [2]*state.Map[slot, []byte]
	meta *state.Value[meta]
	ws   []window
}

// Open implements operators.Operator.
func (j *windowJoin) Open(_ context.Context, oc operators.OpenContext) error {
	if err := j.open(oc); err != nil {
		return err
	}
	for s := range 2 {
		j.rows[s] = state.NewMap(oc.State, oc.Name, "rows."+sideNames[s], slotCodec{}, state.Bytes{})
	}
	j.meta = state.NewValue(oc.State, oc.Name, "meta", metaCodec{})
	return nil
}

// ProcessInput implements operators.MultiInput: input 0 is left, 1 right.
func (j *windowJoin) ProcessInput(_ context.Context, input int, recs []operators.Record, out operators.Collector) error {
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

func (j *windowJoin) one(s int, r *operators.Record, out operators.Collector) error {
	if r.Kind != operators.Insert {
		j.reject(*r, valueErrorf("join %s: a window join takes inserts only, got %s: its inputs must be append streams", j.name, r.Kind))
		return nil
	}
	var err error
	if j.ws, err = j.cfg.win.assign(j.ws[:0], r); err != nil {
		j.reject(*r, fmt.Errorf("join %s: %w", j.name, err))
		return nil
	}
	var row []byte
	var m meta
	stored := false
	for _, w := range j.ws {
		if w.end-1 <= j.wm {
			continue // fired
		}
		if row == nil {
			if row, err = appendRow(nil, r); err != nil {
				j.reject(*r, err)
				return nil
			}
			if m, _, err = j.meta.Get(r.Key); err != nil {
				return fmt.Errorf("join %s: %w", j.name, err)
			}
		}
		m.seq++
		m.rows[s]++
		if err := j.rows[s].Put(r.Key, slot{end: w.end, start: w.start, seq: m.seq}, row); err != nil {
			return fmt.Errorf("join %s: %w", j.name, err)
		}
		if err := j.timers.Register(state.EventTime, w.end-1, r.Key); err != nil {
			return fmt.Errorf("join %s: %w", j.name, err)
		}
		stored = true
	}
	if !stored {
		j.emitLate(*r, out)
		return nil
	}
	if err := j.meta.Put(r.Key, m); err != nil {
		return fmt.Errorf("join %s: %w", j.name, err)
	}
	return nil
}

// pending is a window's rows of one key, in arrival order.
type pending struct {
	w    window
	rows [2][]any
}

// OnWatermark implements operators.Operator: the windows whose end − 1
// the watermark reached are joined and dropped.
func (j *windowJoin) OnWatermark(_ context.Context, wm int64, out operators.Collector) error {
	ok, err := j.advance(wm)
	if err != nil || !ok {
		return err
	}
	return j.timers.Fire(state.EventTime, j.wm, func(ts int64, key []byte) error {
		m, ok, err := j.meta.Get(key)
		if err != nil || !ok {
			return err
		}
		var due []*pending
		byWin := map[window]*pending{}
		for s := range 2 {
			if m.rows[s] == 0 {
				continue
			}
			var derr error
			err := j.rows[s].Range(key, func(k slot, row []byte) bool {
				if k.end-1 > ts {
					return false
				}
				m.rows[s]--
				v, err := j.decodeRow(row)
				if err == nil {
					err = j.rows[s].Delete(key, k)
				}
				if err != nil {
					derr = err
					return false
				}
				w := window{k.start, k.end}
				p := byWin[w]
				if p == nil {
					p = &pending{w: w}
					byWin[w] = p
					due = append(due, p)
				}
				p.rows[s] = append(p.rows[s], v)
				return true
			})
			if err == nil {
				err = derr
			}
			if err != nil {
				return fmt.Errorf("join %s: fire windows: %w", j.name, err)
			}
		}
		// Windows in (end, start) order, as the state keeps them.
		sortWindows(due)
		for _, p := range due {
			j.joinWindow(key, p, out)
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

func sortWindows(ps []*pending) {
	for i := 1; i < len(ps); i++ {
		for k := i; k > 0; k-- {
			a, b := ps[k-1].w, ps[k].w
			if a.end < b.end || a.end == b.end && a.start <= b.start {
				break
			}
			ps[k-1], ps[k] = ps[k], ps[k-1]
		}
	}
}

// joinWindow emits the join of one window's rows.
func (j *windowJoin) joinWindow(key []byte, p *pending, out operators.Collector) {
	skey := string(key)
	ts := p.w.end - 1
	win := &expression.Window{Start: p.w.start, End: p.w.end}
	how := j.cfg.how
	emit := func(l, r any, withWhere bool) bool {
		v, ok, err := j.pair(skey, l, r, ts, win, withWhere)
		if err != nil {
			bad := l
			if bad == nil {
				bad = r
			}
			j.reject(operators.Record{Key: key, Data: bad, Timestamp: ts, WindowStart: p.w.start, WindowEnd: p.w.end}, err)
			return false
		}
		if ok {
			out.Emit(operators.Record{Key: key, Data: v, Timestamp: ts, WindowStart: p.w.start, WindowEnd: p.w.end})
		}
		return ok
	}
	test := func(l, r any) bool {
		ok, err := j.matches(j.pairEnv(skey, l, r, ts, win))
		if err != nil {
			j.reject(operators.Record{Key: key, Data: l, Timestamp: ts, WindowStart: p.w.start, WindowEnd: p.w.end}, err)
			return false
		}
		return ok
	}
	rmatched := make([]bool, len(p.rows[right]))
	for _, l := range p.rows[left] {
		matched := false
		for i, r := range p.rows[right] {
			switch how {
			case "semi", "anti":
				if !matched && test(l, r) {
					matched = true
				}
			default:
				if emit(l, r, true) {
					matched = true
					rmatched[i] = true
				}
			}
		}
		switch {
		case how == "semi" && matched, how == "anti" && !matched:
			emit(l, nil, false)
		case !matched && (how == "left" || how == "full"):
			emit(l, nil, false)
		}
	}
	if how == "right" || how == "full" {
		for i, r := range p.rows[right] {
			if !rmatched[i] {
				emit(nil, r, false)
			}
		}
	}
}

var _ operators.MultiInput = (*windowJoin)(nil)
