package aggregate

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// Windowed is the aggregate with a window: rows per (group, window),
// emitted when the watermark passes the window's end.
type Windowed struct {
	common
	lateCounter prometheus.Counter

	accs *state.Map[window, *acc]
	// sessState holds a group's session windows, all in one value.
	sessVal *state.Value[sessState]
	timers  *state.Timers
	wmState *state.Value[int64]
	wmKey   []byte
	wm      int64 // the watermark (restored from the last checkpoint)
	savedWM int64

	// The batch being folded (tumbling, hopping, attached).
	// slots are the windows of the batch, and between batches those kept
	// in memory (cache: tumbling, hopping) until a checkpoint writes
	// them or they fire; order the batch's.
	slots    map[string]*slot
	cache    bool
	order    []*slot
	slotPool []*slot
	// Session groups of the batch.
	groups     map[string]*sessGroup
	groupOrder []*sessGroup
	scratch    []byte
	wins       []window
	hit        []*slot
}

// slot is one (group, window): of a batch, or kept in memory between
// batches (tumbling, hopping).
type slot struct {
	key []byte
	win window
	a   *acc
	// existed: the window existed before this batch; inState: it is in
	// state; unsaved: a changed it since it was last written there.
	existed, inState, unsaved bool
	// inBatch: the batch touched the slot (it is in order); dirty: the
	// batch added to it.
	inBatch, dirty bool
	oldRow         map[string]any // the row emitted last, when fired
	// distinct are the count_distinct values added by the batch:
	// distinctKey → occurrences.
	distinct map[string]int64
}

// maxCached bounds the windows a tumbling or hopping aggregate keeps in
// memory between batches; past it they are all written to state and
// dropped from memory.
var maxCached = 1 << 16

var (
	_ operators.Operator = (*Windowed)(nil)
)

// Open implements operators.Operator.
func (w *Windowed) Open(_ context.Context, oc operators.OpenContext) error {
	w.open(oc, w.cfg)
	w.accs = state.NewMap(oc.State, oc.Name, "acc", winCodec{new([16]byte)}, state.Codec[*acc](accCodec{&w.common}))
	w.sessVal = state.NewValue(oc.State, oc.Name, "sessions", state.Codec[sessState](sessCodec{&w.common}))
	w.timers = state.NewTimers(oc.State, oc.Name)
	w.wmState = state.NewValue(oc.State, oc.Name, "watermark", state.Int64{})
	w.wmKey = watermarkKey(oc.State)
	w.wm, w.savedWM = math.MinInt64, math.MinInt64
	wm, ok, err := w.wmState.Get(w.wmKey)
	if err != nil {
		return fmt.Errorf("aggregate %s: restore watermark: %w", oc.Name, err)
	}
	if ok {
		w.wm, w.savedWM = wm, wm
	}
	w.slots = map[string]*slot{}
	w.cache = w.cfg.win.kind == tumbling || w.cfg.win.kind == hopping
	w.groups = map[string]*sessGroup{}
	return nil
}

// cleanedUp reports whether window win is past its allowed lateness.
func (w *Windowed) cleanedUp(win window) bool {
	return w.wm != math.MinInt64 && addSat(win.maxTs(), w.cfg.lateness) <= w.wm
}

// lateRecord handles a record too late for all its windows.
func (w *Windowed) lateRecord(r operators.Record, out operators.Collector) {
	if w.lateCounter != nil {
		w.lateCounter.Inc()
	}
	if w.cfg.late {
		if pc, ok := out.(operators.PortCollector); ok {
			pc.EmitTo(1, r)
		}
	}
}

// Process implements operators.Operator.
func (w *Windowed) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	if w.cfg.win.kind == session {
		return w.processSessions(recs, out)
	}
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
		w.wins = w.wins[:0]
		if w.cfg.win.kind == attached {
			if !r.HasWindow() {
				w.reject(*r, fmt.Errorf("the record has no window: a window of type attached aggregates the rows of an upstream window operator"))
				continue
			}
			w.wins = append(w.wins, window{r.WindowStart, r.WindowEnd})
		} else {
			w.wins = w.cfg.win.assign(w.wins, r.Timestamp)
		}
		w.hit = w.hit[:0]
		rejected := false
		for _, win := range w.wins {
			if w.cleanedUp(win) {
				continue
			}
			s, err := w.slot(r, win)
			if err != nil {
				return err
			}
			if s == nil { // group_by failed: rejected
				rejected = true
				break
			}
			w.hit = append(w.hit, s)
		}
		if rejected {
			continue
		}
		if len(w.hit) == 0 {
			w.lateRecord(*r, out)
			continue
		}
		var cerr error
		for _, s := range w.hit {
			if cerr = w.check(s.a); cerr != nil {
				break
			}
		}
		if cerr != nil {
			w.reject(*r, cerr)
			continue
		}
		for _, s := range w.hit {
			if err := w.addTo(s, r.Timestamp); err != nil {
				w.reject(*r, err)
				break
			}
		}
	}
	err := w.flush(out)
	for _, s := range w.order {
		if !s.dirty && !s.existed {
			// Opened for records that were all rejected: never there.
			delete(w.slots, string(w.slotKey(s.key, s.win)))
			w.releaseSlot(s)
			continue
		}
		s.inBatch, s.dirty, s.existed, s.oldRow = false, false, true, nil
		clear(s.distinct)
	}
	clear(w.order)
	w.order = w.order[:0]
	if err != nil {
		return err
	}
	if !w.cache || len(w.slots) > maxCached {
		if err := w.writeBack(); err != nil {
			return err
		}
		for _, s := range w.slots {
			w.releaseSlot(s)
		}
		clear(w.slots)
	}
	return nil
}

// writeBack writes every window changed since it was last written to
// state.
func (w *Windowed) writeBack() error {
	for _, s := range w.slots {
		if !s.unsaved {
			continue
		}
		if err := w.accs.Put(s.key, s.win, s.a); err != nil {
			return fmt.Errorf("aggregate %s: %w", w.name, err)
		}
		s.unsaved, s.inState = false, true
	}
	return nil
}

// releaseSlot gives a slot (out of w.slots) and its accumulator back.
func (w *Windowed) releaseSlot(s *slot) {
	w.giveAcc(s.a)
	clear(s.distinct)
	*s = slot{distinct: s.distinct}
	w.slotPool = append(w.slotPool, s)
}

// slotKey sets w.scratch to the slots' map key of (key, win).
func (w *Windowed) slotKey(key []byte, win window) []byte {
	w.scratch = append(append(w.scratch[:0], key...), 0)
	w.scratch = appendSid(w.scratch, [2]int64{win.start, win.end})
	return w.scratch
}

// takeSlot returns an empty slot, reusing those of earlier batches.
func (w *Windowed) takeSlot() *slot {
	n := len(w.slotPool)
	if n == 0 {
		return &slot{}
	}
	s := w.slotPool[n-1]
	w.slotPool = w.slotPool[:n-1]
	return s
}

// slot returns the batch's slot of (r.Key, win), loading it from state;
// nil when the record was rejected.
func (w *Windowed) slot(r *operators.Record, win window) (*slot, error) {
	k := w.slotKey(r.Key, win)
	if s, ok := w.slots[string(k)]; ok {
		if !s.inBatch {
			s.inBatch = true
			if s.a.fired {
				s.oldRow = w.row(s.a, &win)
			}
			w.order = append(w.order, s)
		}
		return s, nil
	}
	a, ok, err := w.accs.Get(r.Key, win)
	if err != nil {
		return nil, fmt.Errorf("aggregate %s: %w", w.name, err)
	}
	if !ok {
		g, err := w.group(r)
		if err != nil {
			w.reject(*r, err)
			return nil, nil
		}
		a = w.takeAcc()
		a.group = g
		a.sid = [2]int64{win.start, win.end}
	}
	s := w.takeSlot()
	// The slot may outlive the batch: it keeps a key of its own (which
	// the rows it emits carry, so never reused).
	s.key = bytes.Clone(r.Key)
	s.win, s.a, s.existed, s.inState, s.inBatch = win, a, ok, ok, true
	if ok && a.fired {
		s.oldRow = w.row(a, &win)
	}
	w.slots[string(w.slotKey(r.Key, win))] = s
	w.order = append(w.order, s)
	return s, nil
}

// addTo adds the current record's inputs (checked) to s.
func (w *Windowed) addTo(s *slot, ts int64) error {
	s.dirty = true
	s.a.rows++
	for i := range w.cfg.aggs {
		if !w.pass[i] {
			continue
		}
		d := &w.cfg.aggs[i]
		if d.fn != fnCountDistinct {
			d.add(&s.a.aggs[i], w.vals[i], ts)
			continue
		}
		if w.vals[i] == nil {
			continue
		}
		k, err := distinctKey(w.scratch, i, w.vals[i])
		w.scratch = k
		if err != nil {
			return err
		}
		if s.distinct == nil {
			s.distinct = map[string]int64{}
		}
		s.distinct[string(k)]++
	}
	return nil
}

// applyDistinct writes a batch's count_distinct values of one window
// (namespace sid) of key into state, counting the new ones into a.
func (c *common) applyDistinct(key []byte, sid [2]int64, a *acc, deltas map[string]int64) error {
	for k, n := range deltas {
		i := int(k[0])<<8 | int(k[1])
		mk := appendSid(nil, sid)
		mk = append(mk, k[2:]...)
		old, ok, err := c.distinct[i].Get(key, mk)
		if err != nil {
			return err
		}
		if !ok || old <= 0 {
			a.aggs[i].n++
		}
		if err := c.distinct[i].Put(key, mk, old+n); err != nil {
			return err
		}
	}
	return nil
}

// dropDistinct deletes the count_distinct entries of namespace sid of key.
func (c *common) dropDistinct(key []byte, sid [2]int64) error {
	prefix := appendSid(nil, sid)
	for _, m := range c.distinct {
		if m == nil {
			continue
		}
		var del [][]byte
		err := m.Range(key, func(mk []byte, _ int64) bool {
			if bytes.HasPrefix(mk, prefix) {
				del = append(del, mk)
				return true
			}
			return bytes.Compare(mk, prefix) < 0
		})
		if err != nil {
			return err
		}
		for _, mk := range del {
			if err := m.Delete(key, mk); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes the batch's slots and emits what fired windows changed.
func (w *Windowed) flush(out operators.Collector) error {
	for _, s := range w.order {
		if !s.dirty {
			continue
		}
		if err := w.applyDistinct(s.key, s.a.sid, s.a, s.distinct); err != nil {
			return fmt.Errorf("aggregate %s: %w", w.name, err)
		}
		if err := w.settle(s.key, s.win, s.a, s.existed, s.oldRow, out, true); err != nil {
			return err
		}
		s.unsaved = true
	}
	return nil
}

// settle emits and registers timers for a window a batch changed (the
// caller stores it): a new window gets its timer, or fires at once when
// the watermark passed its end already (allowed lateness); a fired one
// re-emits its row as an update.
func (w *Windowed) settle(key []byte, win window, a *acc, existed bool, oldRow map[string]any, out operators.Collector, register bool) error {
	switch {
	case a.fired && existed && oldRow != nil:
		out.Emit(w.output(operators.UpdateBefore, key, win, oldRow))
		out.Emit(w.output(operators.UpdateAfter, key, win, w.row(a, &win)))
	case w.wm != math.MinInt64 && win.maxTs() <= w.wm:
		a.fired = true
		out.Emit(w.output(operators.Insert, key, win, w.row(a, &win)))
		if !register {
			break
		}
		if err := w.timers.Register(state.EventTime, addSat(win.maxTs(), w.cfg.lateness), key); err != nil {
			return fmt.Errorf("aggregate %s: %w", w.name, err)
		}
	case register && !existed:
		if err := w.timers.Register(state.EventTime, win.maxTs(), key); err != nil {
			return fmt.Errorf("aggregate %s: %w", w.name, err)
		}
	}
	return nil
}

func (w *Windowed) output(k operators.Kind, key []byte, win window, row map[string]any) operators.Record {
	return operators.Record{Key: key, Kind: k, Timestamp: win.maxTs(), WindowStart: win.start, WindowEnd: win.end, Data: row}
}

// OnWatermark implements operators.Operator: windows whose end − 1 the
// watermark reached fire, those past their lateness are dropped.
func (w *Windowed) OnWatermark(_ context.Context, wm int64, out operators.Collector) error {
	if wm <= w.wm {
		return nil
	}
	w.wm = wm
	err := w.timers.Fire(state.EventTime, wm, func(ts int64, key []byte) error {
		switch w.cfg.win.kind {
		case tumbling, hopping:
			if err := w.fireAt(key, window{ts + 1 - w.cfg.win.size, ts + 1}, ts, out); err != nil {
				return err
			}
			if w.cfg.lateness > 0 {
				end := ts + 1 - w.cfg.lateness
				return w.fireAt(key, window{end - w.cfg.win.size, end}, ts, out)
			}
			return nil
		case session:
			return w.fireSessions(key, ts, out)
		}
		var due []window
		var accs []*acc
		err := w.accs.Range(key, func(win window, a *acc) bool {
			if win.maxTs() <= ts {
				due, accs = append(due, win), append(accs, a)
			}
			return true
		})
		if err != nil {
			return err
		}
		for i, win := range due {
			if err := w.fireStored(key, win, accs[i], ts, out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("aggregate %s: %w", w.name, err)
	}
	return nil
}

// fireAt fires or cleans up the window win of key, if it exists, at timer
// ts.
func (w *Windowed) fireAt(key []byte, win window, ts int64, out operators.Collector) error {
	k := w.slotKey(key, win)
	if s, ok := w.slots[string(k)]; ok {
		drop, changed, err := w.fire(key, win, s.a, ts, out, true)
		switch {
		case err != nil:
			return err
		case drop:
			delete(w.slots, string(w.slotKey(key, win)))
			if s.inState {
				if err := w.accs.Delete(key, win); err != nil {
					return err
				}
			}
			err = w.dropDistinct(key, s.a.sid)
			w.releaseSlot(s)
			return err
		case changed:
			s.unsaved = true
		}
		return nil
	}
	a, ok, err := w.accs.Get(key, win)
	if err != nil || !ok {
		return err
	}
	err = w.fireStored(key, win, a, ts, out)
	w.giveAcc(a)
	return err
}

// fireStored fires window win of key (in map acc) at timer ts.
func (w *Windowed) fireStored(key []byte, win window, a *acc, ts int64, out operators.Collector) error {
	drop, changed, err := w.fire(key, win, a, ts, out, true)
	switch {
	case err != nil:
		return err
	case drop:
		if err := w.accs.Delete(key, win); err != nil {
			return err
		}
		return w.dropDistinct(key, a.sid)
	case changed:
		return w.accs.Put(key, win, a)
	}
	return nil
}

// fire handles window win of key at timer ts (win.maxTs() ≤ ts): it emits
// the row unless it did already, and says to drop the window once past its
// lateness, or that a changed (it fired); register: register the clean-up
// timer.
func (w *Windowed) fire(key []byte, win window, a *acc, ts int64, out operators.Collector, register bool) (drop, changed bool, err error) {
	if !a.fired {
		out.Emit(w.output(operators.Insert, key, win, w.row(a, &win)))
	}
	cleanup := addSat(win.maxTs(), w.cfg.lateness)
	if cleanup <= ts {
		return true, false, nil
	}
	if a.fired {
		return false, false, nil
	}
	a.fired = true
	if !register {
		return false, true, nil
	}
	return false, true, w.timers.Register(state.EventTime, cleanup, key)
}

// SnapshotState implements operators.Operator: it writes the windows kept
// in memory to state, and keeps the watermark, so that after a restore
// records are judged late as before it.
func (w *Windowed) SnapshotState(context.Context, int64) error {
	if err := w.writeBack(); err != nil {
		return err
	}
	if w.wm == w.savedWM {
		return nil
	}
	if err := w.wmState.Put(w.wmKey, w.wm); err != nil {
		return fmt.Errorf("aggregate %s: keep watermark: %w", w.name, err)
	}
	w.savedWM = w.wm
	return nil
}

// NotifyCheckpointComplete implements operators.Operator.
func (w *Windowed) NotifyCheckpointComplete(context.Context, int64) error { return nil }

// Close implements operators.Operator.
func (w *Windowed) Close() error { return nil }

// sortSessions orders sessions by start.
func sortSessions(ss []*sess) {
	slices.SortFunc(ss, func(a, b *sess) int {
		switch {
		case a.win.start < b.win.start:
			return -1
		case a.win.start > b.win.start:
			return 1
		}
		return 0
	})
}
