package aggregate

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"time"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// Updating is the aggregate without a window: one row per group, emitted
// as an updating changelog on every change (emit: on_change).
type Updating struct {
	common

	accs   *state.Value[*acc]
	mm     []*state.Map[[]byte, int64] // min, max: value → occurrences
	timers *state.Timers
	now    func() time.Time
	ttlMs  int64

	// onCheckpoint: emit at BeforeSnapshot instead of per batch.
	onCheckpoint bool
	outRows      *state.Value[[]byte]
	changed      map[string]struct{}
	changedOrder [][]byte

	groups    map[string]*ugroup
	order     []*ugroup
	groupPool []*ugroup
}

// ugroup is one group during a batch.
type ugroup struct {
	key     []byte
	a       *acc
	existed bool
	prevRow map[string]any
	// distinct and mm are the batch's changes of count_distinct and
	// min/max value counts: aggregate index + value → delta.
	distinct map[string]int64
	mm       map[string]int64
	rescan   []bool // min/max whose extreme was taken back
	lastTs   int64
	dirty    bool
}

var (
	_ operators.Operator        = (*Updating)(nil)
	_ operators.ProcessingTimer = (*Updating)(nil)
	_ operators.SnapshotEmitter = (*OnCheckpoint)(nil)
)

// Open implements operators.Operator.
func (u *Updating) Open(_ context.Context, oc operators.OpenContext) error {
	u.open(oc, u.cfg)
	u.accs = state.NewValue(oc.State, oc.Name, "acc", state.Codec[*acc](accCodec{&u.common}))
	u.mm = make([]*state.Map[[]byte, int64], len(u.cfg.aggs))
	for i, d := range u.cfg.aggs {
		if d.fn == fnMin || d.fn == fnMax {
			u.mm[i] = state.NewMap(oc.State, oc.Name, "mm."+d.name, state.Bytes{}, state.Int64{})
		}
	}
	u.timers = state.NewTimers(oc.State, oc.Name)
	u.now = oc.Now
	if u.now == nil {
		u.now = time.Now
	}
	u.ttlMs = u.cfg.ttl.Milliseconds()
	if u.cfg.ttl > 0 && u.ttlMs == 0 {
		u.ttlMs = 1
	}
	u.outRows = state.NewValue(oc.State, oc.Name, "out", state.Bytes{})
	u.changed = map[string]struct{}{}
	u.groups = map[string]*ugroup{}
	return nil
}

// load returns the batch's group of key, reading its accumulators.
func (u *Updating) load(key []byte) (*ugroup, error) {
	if g, ok := u.groups[string(key)]; ok {
		return g, nil
	}
	a, ok, err := u.accs.Get(key)
	if err != nil {
		return nil, fmt.Errorf("aggregate %s: %w", u.name, err)
	}
	g := u.takeGroup()
	g.key, g.a, g.existed = key, a, ok
	if ok {
		if !u.onCheckpoint {
			g.prevRow = u.row(a, nil)
		}
	} else {
		g.a = u.takeAcc()
	}
	u.groups[string(key)] = g
	u.order = append(u.order, g)
	return g, nil
}

// Process implements operators.Operator.
func (u *Updating) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for i := range recs {
		r := &recs[i]
		retract := r.Kind.Retracts()
		if err := u.eval(r); err != nil {
			u.reject(*r, err)
			continue
		}
		g, err := u.load(r.Key)
		if err != nil {
			return err
		}
		a := g.a
		if retract {
			if a.rows <= 0 {
				continue // nothing to take back (state expired, or never added)
			}
			var rerr error
			for j, d := range u.cfg.aggs {
				if u.pass[j] && !d.fn.retractable() {
					rerr = errAppendOnly(fmt.Sprintf("aggregates.%s (%s)", d.name, d.fn), r.Kind)
				}
			}
			if rerr != nil {
				u.reject(*r, rerr)
				continue
			}
		} else {
			if err := u.check(a); err != nil {
				u.reject(*r, err)
				continue
			}
			if a.rows == 0 && a.group == nil && len(a.groupRaw) == 0 && len(u.cfg.groupBy) > 0 {
				grp, err := u.group(r)
				if err != nil {
					u.reject(*r, err)
					continue
				}
				a.group, a.groupRaw = grp, a.groupRaw[:0]
			}
		}
		if err := u.apply(g, retract, r.Timestamp); err != nil {
			u.reject(*r, err)
			continue
		}
		g.lastTs, g.dirty = r.Timestamp, true
		a.ts = r.Timestamp
	}
	err := u.flush(out)
	clear(u.groups)
	for _, g := range u.order {
		u.giveAcc(g.a)
		clear(g.distinct)
		clear(g.mm)
		*g = ugroup{distinct: g.distinct, mm: g.mm}
		u.groupPool = append(u.groupPool, g)
	}
	clear(u.order)
	u.order = u.order[:0]
	return err
}

// takeGroup returns an empty ugroup, reusing those of earlier batches.
func (u *Updating) takeGroup() *ugroup {
	n := len(u.groupPool)
	if n == 0 {
		return &ugroup{}
	}
	g := u.groupPool[n-1]
	u.groupPool = u.groupPool[:n-1]
	return g
}

// apply adds (or takes back) the current record's inputs to g.
func (u *Updating) apply(g *ugroup, retract bool, ts int64) error {
	a := g.a
	delta := int64(1)
	if retract {
		delta = -1
	}
	a.rows += delta
	for i := range u.cfg.aggs {
		if !u.pass[i] {
			continue
		}
		d := &u.cfg.aggs[i]
		v := u.vals[i]
		switch d.fn {
		case fnCountDistinct:
			if v == nil {
				continue
			}
			k, err := distinctKey(u.enc, i, v)
			u.enc = k
			if err != nil {
				return err
			}
			if g.distinct == nil {
				g.distinct = map[string]int64{}
			}
			g.distinct[string(k)] += delta
		case fnMin, fnMax:
			if v == nil {
				continue
			}
			k := append(u.enc[:0], byte(i>>8), byte(i))
			k, err := appendValue(k, v)
			u.enc = k
			if err != nil {
				return err
			}
			if g.mm == nil {
				g.mm = map[string]int64{}
			}
			g.mm[string(k)] += delta
			if !retract {
				d.add(&a.aggs[i], v, 0)
				continue
			}
			s := &a.aggs[i]
			s.n--
			if s.has && compare(v, s.val) == 0 {
				if g.rescan == nil {
					g.rescan = make([]bool, len(u.cfg.aggs))
				}
				g.rescan[i] = true
			}
		default:
			if retract {
				d.retract(&a.aggs[i], v)
			} else {
				d.add(&a.aggs[i], v, ts)
			}
		}
	}
	return nil
}

// flush writes the batch's groups and emits their changed rows.
func (u *Updating) flush(out operators.Collector) error {
	for _, g := range u.order {
		if !g.dirty {
			continue
		}
		if err := u.settle(g, out); err != nil {
			return fmt.Errorf("aggregate %s: %w", u.name, err)
		}
	}
	return nil
}

func (u *Updating) settle(g *ugroup, out operators.Collector) error {
	a, key := g.a, g.key
	if a.rows <= 0 {
		if g.existed {
			if err := u.drop(key, a); err != nil {
				return err
			}
			if u.onCheckpoint {
				u.markChanged(key)
			} else {
				out.Emit(operators.Record{Key: key, Kind: operators.Delete, Timestamp: g.lastTs, Data: g.prevRow})
			}
		}
		return nil
	}
	for k, d := range g.mm {
		i := int(k[0])<<8 | int(k[1])
		mk := []byte(k[2:])
		old, _, err := u.mm[i].Get(key, mk)
		if err != nil {
			return err
		}
		if n := old + d; n > 0 {
			err = u.mm[i].Put(key, mk, n)
		} else {
			err = u.mm[i].Delete(key, mk)
		}
		if err != nil {
			return err
		}
	}
	for i, re := range g.rescan {
		if re {
			if err := u.rescan(key, i, &a.aggs[i]); err != nil {
				return err
			}
		}
	}
	for k, d := range g.distinct {
		i := int(k[0])<<8 | int(k[1])
		mk := []byte(k[2:])
		old, _, err := u.distinct[i].Get(key, mk)
		if err != nil {
			return err
		}
		n := old + d
		switch {
		case old <= 0 && n > 0:
			a.aggs[i].n++
		case old > 0 && n <= 0:
			a.aggs[i].n--
		}
		if n > 0 {
			err = u.distinct[i].Put(key, mk, n)
		} else {
			err = u.distinct[i].Delete(key, mk)
		}
		if err != nil {
			return err
		}
	}
	if u.ttlMs > 0 {
		if g.existed {
			if err := u.timers.Delete(state.ProcessingTime, addSat(a.access, u.ttlMs), key); err != nil {
				return err
			}
		}
		a.access = u.now().UnixMilli()
		if err := u.timers.Register(state.ProcessingTime, addSat(a.access, u.ttlMs), key); err != nil {
			return err
		}
	}
	if err := u.accs.Put(key, a); err != nil {
		return err
	}
	if u.onCheckpoint {
		u.markChanged(key)
		return nil
	}
	row := u.row(a, nil)
	switch {
	case !g.existed:
		out.Emit(operators.Record{Key: key, Kind: operators.Insert, Timestamp: g.lastTs, Data: row})
	case !u.sameRow(g.prevRow, row):
		out.Emit(operators.Record{Key: key, Kind: operators.UpdateBefore, Timestamp: g.lastTs, Data: g.prevRow})
		out.Emit(operators.Record{Key: key, Kind: operators.UpdateAfter, Timestamp: g.lastTs, Data: row})
	}
	return nil
}

// sameRow reports whether two rows of one group hold the same aggregate
// values (their group fields are equal by construction).
func (c *common) sameRow(a, b map[string]any) bool {
	for i := range c.cfg.aggs {
		n := c.cfg.aggs[i].name
		if !sameValue(a[n], b[n]) {
			return false
		}
	}
	return true
}

// sameValue compares two aggregate results, of the same type and value.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || x != x && y != y)
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return reflect.DeepEqual(a, b)
}

// rescan finds the extreme of min/max aggregate i of key again, after its
// value was taken back.
func (u *Updating) rescan(key []byte, i int, s *aggState) error {
	fn := u.cfg.aggs[i].fn
	s.has, s.val = false, nil
	var derr error
	err := u.mm[i].Range(key, func(mk []byte, n int64) bool {
		if n <= 0 {
			return true
		}
		v, err := decodeValue(mk, &u.dec)
		if err != nil {
			derr = err
			return false
		}
		if !s.has || better(fn, v, s.val) {
			s.val, s.has = v, true
		}
		return true
	})
	if err == nil {
		err = derr
	}
	return err
}

// drop deletes everything the group keeps.
func (u *Updating) drop(key []byte, a *acc) error {
	if err := u.accs.Delete(key); err != nil {
		return err
	}
	for i := range u.cfg.aggs {
		if m := u.distinct[i]; m != nil {
			if err := m.Clear(key); err != nil {
				return err
			}
		}
		if m := u.mm[i]; m != nil {
			if err := m.Clear(key); err != nil {
				return err
			}
		}
	}
	if u.ttlMs > 0 {
		return u.timers.Delete(state.ProcessingTime, addSat(a.access, u.ttlMs), key)
	}
	return nil
}

// OnWatermark implements operators.Operator: a non-windowed aggregate
// does not wait for event time.
func (u *Updating) OnWatermark(context.Context, int64, operators.Collector) error { return nil }

// OnProcessingTime implements operators.ProcessingTimer: groups unchanged
// for ttl are forgotten, without output.
func (u *Updating) OnProcessingTime(_ context.Context, now time.Time, _ operators.Collector) error {
	if u.ttlMs <= 0 {
		return nil
	}
	nowMs := now.UnixMilli()
	err := u.timers.Fire(state.ProcessingTime, nowMs, func(_ int64, key []byte) error {
		a, ok, err := u.accs.Get(key)
		if err != nil || !ok {
			return err
		}
		if addSat(a.access, u.ttlMs) > nowMs {
			return nil // changed since: its own timer is later
		}
		if err := u.drop(key, a); err != nil {
			return err
		}
		if u.onCheckpoint {
			if _, ok := u.changed[string(key)]; ok {
				delete(u.changed, string(key))
				for i, k := range u.changedOrder {
					if bytes.Equal(k, key) {
						u.changedOrder = append(u.changedOrder[:i], u.changedOrder[i+1:]...)
						break
					}
				}
			}
			return u.outRows.Delete(key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("aggregate %s: expire groups: %w", u.name, err)
	}
	return nil
}

// SnapshotState implements operators.Operator.
func (u *Updating) SnapshotState(context.Context, int64) error { return nil }

// NotifyCheckpointComplete implements operators.Operator.
func (u *Updating) NotifyCheckpointComplete(context.Context, int64) error { return nil }

// Close implements operators.Operator.
func (u *Updating) Close() error { return nil }

func (u *Updating) markChanged(key []byte) {
	if _, ok := u.changed[string(key)]; ok {
		return
	}
	u.changed[string(key)] = struct{}{}
	u.changedOrder = append(u.changedOrder, bytes.Clone(key))
}

// OnCheckpoint is the aggregate without a window that emits the changed
// groups' rows just before each checkpoint (emit: on_checkpoint).
type OnCheckpoint struct {
	*Updating
}

// Open implements operators.Operator.
func (o *OnCheckpoint) Open(ctx context.Context, oc operators.OpenContext) error {
	o.onCheckpoint = true
	return o.Updating.Open(ctx, oc)
}

// BeforeSnapshot implements operators.SnapshotEmitter: every group
// changed since the last checkpoint emits its row's change since the row
// it emitted last.
func (o *OnCheckpoint) BeforeSnapshot(_ context.Context, _ int64, out operators.Collector) error {
	for _, key := range o.changedOrder {
		if err := o.emitChange(key, out); err != nil {
			return fmt.Errorf("aggregate %s: %w", o.name, err)
		}
	}
	clear(o.changed)
	clear(o.changedOrder)
	o.changedOrder = o.changedOrder[:0]
	return nil
}

func (o *OnCheckpoint) emitChange(key []byte, out operators.Collector) error {
	last, had, err := o.outRows.Get(key)
	if err != nil {
		return err
	}
	var lastRow map[string]any
	var lastTs int64
	if had {
		if lastRow, lastTs, err = o.decodeRow(last); err != nil {
			return err
		}
	}
	a, ok, err := o.accs.Get(key)
	if err != nil {
		return err
	}
	if !ok {
		if had {
			out.Emit(operators.Record{Key: key, Kind: operators.Delete, Timestamp: lastTs, Data: lastRow})
			return o.outRows.Delete(key)
		}
		return nil
	}
	row := o.row(a, nil)
	enc, err := o.encodeRow(row, a.ts)
	if err != nil {
		return err
	}
	switch {
	case !had:
		out.Emit(operators.Record{Key: key, Kind: operators.Insert, Timestamp: a.ts, Data: row})
	case !bytes.Equal(last, enc):
		// (A row whose values came back to the same ones still moves on
		// to its last record's timestamp, so the rows left do not depend
		// on when checkpoints were taken.)
		out.Emit(operators.Record{Key: key, Kind: operators.UpdateBefore, Timestamp: lastTs, Data: lastRow})
		out.Emit(operators.Record{Key: key, Kind: operators.UpdateAfter, Timestamp: a.ts, Data: row})
	default:
		return nil
	}
	return o.outRows.Put(key, enc)
}

// encodeRow encodes a row: its timestamp (8 bytes), then its field values
// in output order.
func (u *Updating) encodeRow(row map[string]any, ts int64) ([]byte, error) {
	b := binary.BigEndian.AppendUint64(nil, uint64(ts))
	var err error
	for _, f := range u.fields {
		if b, err = appendValue(b, row[f]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (u *Updating) decodeRow(b []byte) (map[string]any, int64, error) {
	if len(b) < 8 {
		return nil, 0, fmt.Errorf("%w: row of %d bytes", errCorrupt, len(b))
	}
	ts := int64(binary.BigEndian.Uint64(b))
	r := reader{b: b[8:], dec: &u.dec}
	row := make(map[string]any, len(u.fields))
	for _, f := range u.fields {
		row[f] = r.value()
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return nil, 0, fmt.Errorf("stored row %x: %w", b, r.err)
	}
	return row, ts, nil
}
