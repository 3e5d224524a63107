package aggregate

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// sessGroup is the live sessions of one group during a batch, sorted by
// start (disjoint).
type sessGroup struct {
	key []byte
	ss  []*sess
	// timer is the group's registered timer not yet fired (noTimer: none).
	timer int64
}

// noTimer: a group of sessions without a registered timer.
const noTimer = math.MinInt64

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
	g := &sessGroup{key: key, timer: noTimer}
	st, _, err := w.sessVal.Get(key)
	if err != nil {
		return nil, fmt.Errorf("aggregate %s: %w", w.name, err)
	}
	if st.list != nil {
		g.timer = st.timer
	}
	for _, e := range st.list {
		stored := e.win
		s := &sess{win: e.win, a: e.a, stored: &stored}
		if e.a.fired {
			s.oldRow = w.row(e.a, &stored)
		}
		g.ss = append(g.ss, s)
	}
	w.groups[string(key)] = g
	w.groupOrder = append(w.groupOrder, g)
	return g, nil
}

// storeSessions writes the sessions of key (sorted by start), first
// making sure a timer comes at the earliest time one of them is due (to
// fire, or to be cleaned up): a group has one timer at a time, not one per
// session end (a session that grows would leave one behind per record).
func (w *Windowed) storeSessions(key []byte, st sessState) error {
	if len(st.list) == 0 {
		return w.sessVal.Delete(key)
	}
	due := int64(math.MaxInt64)
	for _, e := range st.list {
		if e.a.fired {
			due = min(due, addSat(e.win.maxTs(), w.cfg.lateness))
		} else {
			due = min(due, e.win.maxTs())
		}
	}
	if st.timer == noTimer || due < st.timer {
		if err := w.timers.Register(state.EventTime, due, key); err != nil {
			return err
		}
		st.timer = due
	}
	return w.sessVal.Put(key, st)
}

// fireSessions fires and cleans up the sessions of key due at timer ts.
func (w *Windowed) fireSessions(key []byte, ts int64, out operators.Collector) error {
	st, ok, err := w.sessVal.Get(key)
	if err != nil || !ok {
		return err
	}
	if st.timer == ts {
		st.timer = noTimer
	}
	keep := st.list[:0]
	for _, e := range st.list {
		if e.win.maxTs() > ts {
			keep = append(keep, e)
			continue
		}
		drop, _, err := w.fire(key, e.win, e.a, ts, out, false)
		if err != nil {
			return err
		}
		if drop {
			if err := w.dropDistinct(key, e.a.sid); err != nil {
				return err
			}
		} else {
			keep = append(keep, e)
		}
	}
	st.list = keep
	return w.storeSessions(key, st)
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

// flushSessions writes the batch's sessions: a merged-away or grown
// session that emitted a row takes it back with a delete, count_distinct
// entries follow the session they merged into, new ends get timers. (The
// timers of the ends that are gone stay: they fire and find nothing due.)
func (w *Windowed) flushSessions(out operators.Collector) error {
	for _, g := range w.groupOrder {
		dirty := false
		for _, s := range g.ss {
			if !s.dirty {
				continue
			}
			dirty = true
			for _, o := range s.absorbed {
				if o.a.fired {
					out.Emit(w.output(operators.Delete, g.key, *o.stored, o.oldRow))
				}
				if err := w.moveDistinct(g.key, o.a.sid, s.a); err != nil {
					return fmt.Errorf("aggregate %s: %w", w.name, err)
				}
			}
			existed := s.stored != nil
			if existed && *s.stored != s.win {
				if s.a.fired {
					out.Emit(w.output(operators.Delete, g.key, *s.stored, s.oldRow))
					s.a.fired, s.oldRow = false, nil
				}
				existed = false
			}
			if err := w.applyDistinct(g.key, s.a.sid, s.a, s.distinct); err != nil {
				return fmt.Errorf("aggregate %s: %w", w.name, err)
			}
			if err := w.settle(g.key, s.win, s.a, existed, s.oldRow, out, false); err != nil {
				return err
			}
		}
		if !dirty {
			continue
		}
		st := sessState{timer: g.timer, list: make([]sessEntry, len(g.ss))}
		for i, s := range g.ss {
			st.list[i] = sessEntry{s.win, s.a}
		}
		if err := w.storeSessions(g.key, st); err != nil {
			return fmt.Errorf("aggregate %s: %w", w.name, err)
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

// sessEntry is one stored session.
type sessEntry struct {
	win window
	a   *acc
}

// sessState is what a group of sessions keeps: its sessions, sorted by
// start, and its timer.
type sessState struct {
	timer int64
	list  []sessEntry
}

// sessCodec stores a group's sessions as one value: the timer, their
// number, then each one's start, end and accumulators (length-prefixed).
type sessCodec struct{ c *common }

func (sc sessCodec) Encode(st sessState) ([]byte, error) {
	list := st.list
	b := binary.AppendVarint(nil, st.timer)
	b = binary.AppendUvarint(b, uint64(len(list)))
	var err error
	for _, e := range list {
		b = binary.AppendVarint(b, e.win.start)
		b = binary.AppendVarint(b, e.win.end)
		n := len(b)
		b = append(b, make([]byte, binary.MaxVarintLen64)...)
		if b, err = encodeAcc(b, e.a, sc.c.cfg.aggs); err != nil {
			return nil, err
		}
		// Length prefix: write it in place and close the gap.
		l := binary.AppendUvarint(nil, uint64(len(b)-n-binary.MaxVarintLen64))
		copy(b[n:], l)
		b = append(b[:n+len(l)], b[n+binary.MaxVarintLen64:]...)
	}
	return b, nil
}

func (sc sessCodec) Decode(b []byte) (sessState, error) {
	r := reader{b: b}
	timer := r.varint()
	n := r.uvarint()
	if n > uint64(len(b)) {
		r.fail()
		n = 0
	}
	list := make([]sessEntry, 0, n)
	for range n {
		e := sessEntry{win: window{r.varint(), r.varint()}, a: newAcc(len(sc.c.cfg.aggs))}
		ab := r.bytes()
		if r.err != nil {
			break
		}
		if err := decodeAcc(ab, e.a, sc.c.cfg.aggs, &sc.c.dec); err != nil {
			return sessState{}, err
		}
		list = append(list, e)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return sessState{}, fmt.Errorf("sessions %x: %w", b, r.err)
	}
	return sessState{timer: timer, list: list}, nil
}
