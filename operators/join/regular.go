package join

import (
	"context"
	"fmt"
	"math"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// regularJoin is `join: regular` (inner or left).
type regularJoin struct {
	base
	// rows are each side's rows of a key, with their retain times: a
	// row is written once, and the cleanup finds the rows past their
	// retain time among the key's rows (from the row cache, mostly).
	rows [2]*state.Map[[]byte, entry]

	found   []match
	outs    []operators.Record
	due     [][]byte // rows past their retain time (cleanup)
	cleaned keySet

	// cache holds the rows of recently seen keys (rowcache.go), unless
	// the join has a TTL (noCache).
	cache   rowCache
	noCache bool
}

// match is a stored row of the other side that joins the arriving one.
type match struct {
	row []byte
	e   entry
	val any
}

var sideNames = [2]string{"left", "right"}

// Open implements operators.Operator.
func (j *regularJoin) Open(_ context.Context, oc operators.OpenContext) error {
	if err := j.open(oc); err != nil {
		return err
	}
	j.cache.reset()
	j.noCache = j.cfg.ttl > 0
	var opts []state.StateOpt
	if j.cfg.ttl > 0 {
		opts = append(opts, state.WithTTL(j.cfg.ttl))
	}
	for s := range 2 {
		j.rows[s] = state.NewMap(oc.State, oc.Name, "rows."+sideNames[s], state.Bytes{}, entryCodec{}, opts...)
		// State written before 2026-11-30 also indexed rows by retain time
		// in retain.left / retain.right; nothing reads them now, so a
		// restore of such state drops them instead of keeping them forever.
		legacy := state.NewMap(oc.State, oc.Name, "retain."+sideNames[s], state.Bytes{}, state.Bytes{})
		if _, err := legacy.ClearAll(); err != nil {
			return fmt.Errorf("join %s: drop the retain index of older versions: %w", j.name, err)
		}
	}
	return nil
}

// ProcessInput implements operators.MultiInput: input 0 is left, 1 right.
func (j *regularJoin) ProcessInput(_ context.Context, input int, recs []operators.Record, out operators.Collector) error {
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

func (j *regularJoin) leftOuter() bool { return j.cfg.how == "left" }

// one joins one record of side s.
func (j *regularJoin) one(s int, r *operators.Record, out operators.Collector) error {
	key := r.Key
	skey := string(key)
	row, err := appendRow(j.enc[:0], r)
	if err != nil {
		j.reject(*r, err)
		return nil
	}
	j.enc = row
	row = append([]byte(nil), row...)
	acc := !r.Kind.Retracts()
	retain := int64(math.MaxInt64)
	if acc && j.cfg.retain[s] != nil {
		if retain, err = j.retainOf(s, r); err != nil {
			j.reject(*r, err)
			return nil
		}
	}
	own := valueOf(r)

	// The other side's rows that join.
	j.found = j.found[:0]
	var ferr error
	if err := j.eachRow(1-s, key, func(cr *cachedRow) bool {
		e := cr.e
		if e.retain <= j.wm {
			return true // past its retain time: as good as dropped
		}
		if !cr.dec {
			oval, err := j.decodeRow(cr.row)
			if err != nil {
				ferr = err
				return false
			}
			cr.val, cr.dec = oval, true
		}
		oval := cr.val
		l, rr := sides(s, own, oval)
		ok, err := j.matches(j.pairEnv(skey, l, rr, max(r.Timestamp, e.ts), nil))
		if err != nil {
			ferr = err
			return false
		}
		if ok {
			j.found = append(j.found, match{row: cr.row, e: e, val: oval})
		}
		return true
	}); err != nil {
		return fmt.Errorf("join %s: %w", j.name, err)
	}
	if ferr != nil {
		if rejectable(ferr) {
			j.reject(*r, ferr)
			return nil
		}
		return ferr
	}

	// What to emit, computed before any state changes, so that a failing
	// select rejects the record and changes nothing.
	j.outs = j.outs[:0]
	kind := operators.Insert
	if !acc {
		kind = operators.Delete
	}
	emit := func(k operators.Kind, l, rr any, ts int64, n int64) error {
		v, _, err := j.pair(skey, l, rr, ts, nil, false)
		if err != nil {
			return err
		}
		for range n {
			j.outs = append(j.outs, operators.Record{Key: key, Data: v, Timestamp: ts, Kind: k,
				Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		}
		return nil
	}
	var updates []match // left rows whose matches change (left join, right input)
	if !j.leftOuter() || s == left {
		if len(j.found) == 0 && j.leftOuter() {
			err = emit(kind, own, nil, r.Timestamp, 1)
		}
		for _, m := range j.found {
			if err != nil {
				break
			}
			l, rr := sides(s, own, m.val)
			err = emit(kind, l, rr, max(r.Timestamp, m.e.ts), m.e.count)
		}
	} else {
		for _, m := range j.found {
			ts := max(r.Timestamp, m.e.ts)
			n := m.e.count
			switch {
			case acc && m.e.matches <= 0:
				for range n {
					if err == nil {
						err = emit(operators.UpdateBefore, m.val, nil, m.e.ts, 1)
					}
					if err == nil {
						err = emit(operators.UpdateAfter, m.val, own, ts, 1)
					}
				}
				m.e.matches = 1
			case acc:
				err = emit(operators.Insert, m.val, own, ts, n)
				m.e.matches++
			case m.e.matches <= 1:
				for range n {
					if err == nil {
						err = emit(operators.UpdateBefore, m.val, own, ts, 1)
					}
					if err == nil {
						err = emit(operators.UpdateAfter, m.val, nil, m.e.ts, 1)
					}
				}
				m.e.matches = 0
			default:
				err = emit(operators.Delete, m.val, own, ts, n)
				m.e.matches--
			}
			updates = append(updates, m)
		}
	}
	if err != nil {
		if rejectable(err) {
			j.reject(*r, err)
			return nil
		}
		return err
	}

	// State: the arriving row, then the left rows whose matches changed.
	if err := j.store(s, key, row, r.Timestamp, retain, acc); err != nil {
		return err
	}
	for _, m := range updates {
		if err := j.putRow(left, key, m.row, m.e); err != nil {
			return fmt.Errorf("join %s: %w", j.name, err)
		}
	}
	for _, o := range j.outs {
		out.Emit(o)
	}
	return nil
}

// store adds (acc) or takes away a row of side s.
func (j *regularJoin) store(s int, key, row []byte, ts, retain int64, acc bool) error {
	cur, found, err := j.getRow(s, key, row)
	if err != nil {
		return fmt.Errorf("join %s: %w", j.name, err)
	}
	var matches int64
	if s == left && j.leftOuter() {
		for _, m := range j.found {
			matches += m.e.count
		}
	}
	if !acc {
		if !found {
			return nil
		}
		cur.count--
		cur.matches = matches
		if cur.count > 0 {
			err = j.putRow(s, key, row, cur)
		} else {
			err = j.deleteRow(s, key, row)
		}
		if err != nil {
			return fmt.Errorf("join %s: %w", j.name, err)
		}
		return nil
	}
	if retain <= j.wm {
		// It cannot match anything that may still come: joined, not kept.
		return nil
	}
	if found && cur.retain <= j.wm {
		// Past its retain time, waiting for the cleanup: gone already
		// (it matches nothing), so the row starts over.
		found = false
	}
	if found {
		cur.count++
		cur.ts = max(cur.ts, ts)
		cur.retain = max(cur.retain, retain)
	} else {
		cur = entry{count: 1, ts: ts, retain: retain}
	}
	cur.matches = matches
	if err := j.putRow(s, key, row, cur); err != nil {
		return fmt.Errorf("join %s: %w", j.name, err)
	}
	if retain != math.MaxInt64 {
		if err := j.timers.Register(state.EventTime, cleanupAt(retain), key); err != nil {
			return fmt.Errorf("join %s: %w", j.name, err)
		}
	}
	return nil
}

// retainOf evaluates side s's retain expression over r: an event time in
// ms (a number).
func (j *regularJoin) retainOf(s int, r *operators.Record) (int64, error) {
	e := &j.env
	e.Reset()
	e.SetRecord(r)
	v, err := j.cfg.retain[s].Eval(e)
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		if x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(math.Floor(x)), nil
		}
	case nil:
		return math.MaxInt64, nil // never expires
	}
	return 0, valueErrorf("join %s: retain.%s gave %T %v, not a time in ms (use parse_time for text)", j.name, sideNames[s], v, v)
}

// OnWatermark implements operators.Operator: rows whose retain time the
// watermark reached are dropped.
func (j *regularJoin) OnWatermark(_ context.Context, wm int64, _ operators.Collector) error {
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
		for s := range 2 {
			if j.cfg.retain[s] == nil {
				continue
			}
			due := j.due[:0]
			err := j.eachRow(s, key, func(cr *cachedRow) bool {
				if cr.e.retain <= j.wm {
					due = append(due, cr.row)
				}
				return true
			})
			for _, row := range due {
				if err == nil {
					err = j.deleteRow(s, key, row)
				}
			}
			clear(due)
			j.due = due[:0]
			if err != nil {
				return fmt.Errorf("join %s: drop rows past retain: %w", j.name, err)
			}
		}
		return nil
	})
}

// eachRow calls fn with every row side s holds for key, in row order,
// until fn returns false: from the cache, or from state (then caching
// them). fn must not write the join's rows.
func (j *regularJoin) eachRow(s int, key []byte, fn func(cr *cachedRow) bool) error {
	rows, err := j.loadRows(s, key)
	if err != nil {
		return err
	}
	for i := range rows {
		if !fn(&rows[i]) {
			break
		}
	}
	return nil
}

// loadRows returns every row side s holds for key, in row order: the
// cached set (read from state and cached on a miss, unless the join does
// not cache), which stays valid until the next write of the join's rows.
func (j *regularJoin) loadRows(s int, key []byte) ([]cachedRow, error) {
	if !j.noCache {
		if rs := j.cache.get(s, key); rs != nil {
			return rs.rows, nil
		}
	}
	var rows []cachedRow
	if err := j.rows[s].Range(key, func(row []byte, e entry) bool {
		rows = append(rows, cachedRow{row: row, e: e})
		return true
	}); err != nil {
		return nil, err
	}
	if !j.noCache {
		if rs := j.cache.add(s, key, rows); rs != nil {
			rows = rs.rows
		}
	}
	return rows, nil
}

// getRow returns side s's entry of row under key, and whether there is
// one. Unless the join does not cache, a key's rows are read and cached
// whole on a miss: the records of a key that follow (the bids of a new
// auction) then find them without reading state.
func (j *regularJoin) getRow(s int, key, row []byte) (entry, bool, error) {
	if j.noCache {
		return j.rows[s].Get(key, row)
	}
	if j.cache.get(s, key) == nil {
		if _, err := j.loadRows(s, key); err != nil {
			return entry{}, false, err
		}
	}
	if rs := j.cache.get(s, key); rs != nil {
		if i, ok := rs.find(row); ok {
			return rs.rows[i].e, true, nil
		}
		return entry{}, false, nil
	}
	return j.rows[s].Get(key, row) // too big to cache
}

// putRow sets side s's entry of row under key (row must not change
// afterwards: the cache may keep it).
func (j *regularJoin) putRow(s int, key, row []byte, e entry) error {
	if err := j.rows[s].Put(key, row, e); err != nil {
		return err
	}
	if !j.noCache {
		j.cache.put(s, key, row, e)
	}
	return nil
}

// deleteRow removes side s's entry of row under key.
func (j *regularJoin) deleteRow(s int, key, row []byte) error {
	if err := j.rows[s].Delete(key, row); err != nil {
		return err
	}
	if !j.noCache {
		j.cache.del(s, key, row)
	}
	return nil
}

var _ operators.MultiInput = (*regularJoin)(nil)
