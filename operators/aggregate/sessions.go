package aggregate

import (
	"bytes"
	"fmt"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// sessGroup is the live sessions of one group during a batch, sorted by
// start (disjoint).
type sessGroup struct {
	key []byte
	ss  []*sess
}

// sess is one session window during a batch.
type sess struct {
	win window
	a   *acc
	// stored is the window the session is stored under (nil: new in this
	// batch), oldRow the row it emitted when it had fired.
	stored *window
	oldRow map[string]any
	// absorbed are stored sessions merged into this one in this batch.
	absorbed []*sess
	distinct map[string]int64
	dirty    bool
}

// sessions returns the batch's sessions of key, loading them from state.
func (w *Windowed) sessions(key []byte) (*sessGroup, error) {
	if g, ok := w.groups[string(key)]; ok {
		return g, nil
	}
	g := &sessGroup{key: key}
	err := w.accs.Range(key, func(win window, a *acc) bool {
		stored := win
		s := &sess{win: win, a: a, stored: &stored}
		if a.fired {
			s.oldRow = w.row(a, &stored)
		}
		g.ss = append(g.ss, s)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("aggregate %s: %w", w.name, err)
	}
	sortSessions(g.ss)
	w.groups[string(key)] = g
	w.groupOrder = append(w.groupOrder, g)
	return g, nil
}

// processSessions folds a batch into session windows: a record at t opens
// [t, t+gap) and merges with every session of its group it intersects or
// touches.
func (w *Windowed) processSessions(recs []operators.Record, out operators.Collector) error {
	gap := w.cfg.win.gapM
	for i := range recs {
		r := &recs[i]
		if r.Kind != operators.Insert {
			w.reject(*r, errAppendOnly("a windowed aggregate", r.Kind))
			continue
		}
		if err := w.eval(r); err != nil {
			w.reject(*r, err)
			continue
		}
		g, err := w.sessions(r.Key)
		if err != nil {
			return err
		}
		nw := window{r.Timestamp, addSat(r.Timestamp, gap)}
		first, last := -1, -1
		for j, s := range g.ss {
			if s.win.start <= nw.end && nw.start <= s.win.end {
				if first < 0 {
					first = j
				}
				last = j
			}
		}
		if first < 0 {
			if w.cleanedUp(nw) {
				w.lateRecord(*r, out)
				continue
			}
			grp, err := w.group(r)
			if err != nil {
				w.reject(*r, err)
				continue
			}
			s := &sess{win: nw, a: newAcc(len(w.cfg.aggs))}
			s.a.group, s.a.sid = grp, [2]int64{nw.start, nw.end}
			if err := w.check(s.a); err != nil {
				w.reject(*r, err)
				continue
			}
			if err := w.addToSess(s, r.Timestamp); err != nil {
				w.reject(*r, err)
				continue
			}
			g.ss = append(g.ss, s)
			sortSessions(g.ss)
			continue
		}
		var cerr error
		for _, s := range g.ss[first : last+1] {
			if cerr = w.check(s.a); cerr != nil {
				break
			}
		}
		if cerr != nil {
			w.reject(*r, cerr)
			continue
		}
		t := g.ss[first]
		t.win.start, t.win.end = min(t.win.start, nw.start), max(t.win.end, nw.end)
		for _, o := range g.ss[first+1 : last+1] {
			w.mergeSess(t, o)
		}
		g.ss = append(g.ss[:first+1], g.ss[last+1:]...)
		if err := w.addToSess(t, r.Timestamp); err != nil {
			w.reject(*r, err)
		}
	}
	err := w.flushSessions(out)
	clear(w.groups)
	clear(w.groupOrder)
	w.groupOrder = w.groupOrder[:0]
	return err
}

// addToSess adds the current record's inputs (checked) to s.
func (w *Windowed) addToSess(s *sess, ts int64) error {
	sl := slot{a: s.a, distinct: s.distinct}
	err := w.addTo(&sl, ts)
	s.distinct, s.dirty = sl.distinct, true
	return err
}

// mergeSess merges session o into t (t.win already covers it).
func (w *Windowed) mergeSess(t, o *sess) {
	t.win.start, t.win.end = min(t.win.start, o.win.start), max(t.win.end, o.win.end)
	for i := range w.cfg.aggs {
		w.cfg.aggs[i].merge(&t.a.aggs[i], &o.a.aggs[i])
	}
	t.a.rows += o.a.rows
	for k, n := range o.distinct {
		if t.distinct == nil {
			t.distinct = map[string]int64{}
		}
		t.distinct[k] += n
	}
	if o.stored != nil {
		t.absorbed = append(t.absorbed, o)
	}
	t.absorbed = append(t.absorbed, o.absorbed...)
	t.dirty = true
}

// flushSessions writes the batch's sessions: merged-away and grown
// sessions leave state (a row they emitted is taken back with a delete),
// count_distinct entries follow the session they merged into, timers
// move to the new ends.
func (w *Windowed) flushSessions(out operators.Collector) error {
	for _, g := range w.groupOrder {
		var stale []int64
		for _, s := range g.ss {
			if !s.dirty {
				continue
			}
			for _, o := range s.absorbed {
				if o.a.fired {
					out.Emit(w.output(operators.Delete, g.key, *o.stored, o.oldRow))
					stale = append(stale, addSat(o.stored.maxTs(), w.cfg.lateness))
				}
				stale = append(stale, o.stored.maxTs())
				if err := w.accs.Delete(g.key, *o.stored); err != nil {
					return fmt.Errorf("aggregate %s: %w", w.name, err)
				}
				if err := w.moveDistinct(g.key, o.a.sid, s.a); err != nil {
					return fmt.Errorf("aggregate %s: %w", w.name, err)
				}
			}
			existed := s.stored != nil
			if existed && *s.stored != s.win {
				stale = append(stale, s.stored.maxTs())
				if err := w.accs.Delete(g.key, *s.stored); err != nil {
					return fmt.Errorf("aggregate %s: %w", w.name, err)
				}
				if s.a.fired {
					out.Emit(w.output(operators.Delete, g.key, *s.stored, s.oldRow))
					stale = append(stale, addSat(s.stored.maxTs(), w.cfg.lateness))
					s.a.fired, s.oldRow = false, nil
				}
				existed = false
			}
			if err := w.applyDistinct(g.key, s.a.sid, s.a, s.distinct); err != nil {
				return fmt.Errorf("aggregate %s: %w", w.name, err)
			}
			if err := w.settle(g.key, s.win, s.a, existed, s.oldRow, out); err != nil {
				return err
			}
		}
		// Timers of windows that are gone, unless a live window needs the
		// same one.
		for _, ts := range stale {
			needed := false
			for _, s := range g.ss {
				if s.win.maxTs() == ts || s.a.fired && addSat(s.win.maxTs(), w.cfg.lateness) == ts {
					needed = true
				}
			}
			if !needed {
				if err := w.timers.Delete(state.EventTime, ts, g.key); err != nil {
					return fmt.Errorf("aggregate %s: %w", w.name, err)
				}
			}
		}
	}
	return nil
}

// moveDistinct moves the count_distinct entries of namespace from of key
// into a's namespace, counting the values new there.
func (w *Windowed) moveDistinct(key []byte, from [2]int64, a *acc) error {
	prefix := appendSid(nil, from)
	to := appendSid(nil, a.sid)
	for i, m := range w.distinct {
		if m == nil {
			continue
		}
		type entry struct {
			mk []byte
			n  int64
		}
		var moved []entry
		err := m.Range(key, func(mk []byte, n int64) bool {
			if bytes.HasPrefix(mk, prefix) {
				moved = append(moved, entry{mk, n})
				return true
			}
			return bytes.Compare(mk, prefix) < 0
		})
		if err != nil {
			return err
		}
		for _, e := range moved {
			if err := m.Delete(key, e.mk); err != nil {
				return err
			}
			nk := append(append([]byte(nil), to...), e.mk[len(prefix):]...)
			old, ok, err := m.Get(key, nk)
			if err != nil {
				return err
			}
			if !ok || old <= 0 {
				a.aggs[i].n++
			}
			if err := m.Put(key, nk, old+e.n); err != nil {
				return err
			}
		}
	}
	return nil
}
