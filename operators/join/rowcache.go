package join

import (
	"bytes"
	"slices"
)

// rowCache holds, for some keys of a regular join, every row one side
// keeps in state (what Range over the side's rows would give), with the
// decoded values: a join then finds the other side's rows, and its own
// side's entry for a row, without reading Pebble (an iterator per record
// dominated the CPU profile of Nexmark q4). All writes to the join's rows
// go through the join, which updates the cache with them (write-through),
// so a cached set is always what state holds. It starts empty at every
// Open (a restore reads state again) and is dropped whole when it grows
// past maxCacheBytes. Joins with a state TTL do not use it (rows expire
// without a write).
type rowCache struct {
	sets  [2]map[string]*rowSet
	bytes int
}

// maxCacheBytes bounds the bytes of rows a join caches.
const maxCacheBytes = 32 << 20

// rowSet is every row of one side of one key, sorted by row bytes (the
// order Range gives).
type rowSet struct{ rows []cachedRow }

type cachedRow struct {
	row []byte
	e   entry
	val any // the decoded row, once decoded
	dec bool
}

// setOverhead is what a cached key costs besides its rows' bytes.
const setOverhead = 96

func (c *rowCache) reset() {
	for s := range c.sets {
		c.sets[s] = map[string]*rowSet{}
	}
	c.bytes = 0
}

// get returns side s's cached rows of key, or nil.
func (c *rowCache) get(s int, key []byte) *rowSet {
	return c.sets[s][string(key)]
}

// add caches rows as side s's complete set of key's rows (sorted).
func (c *rowCache) add(s int, key []byte, rows []cachedRow) *rowSet {
	n := setOverhead + len(key)
	for _, r := range rows {
		n += len(r.row) + setOverhead
	}
	if c.bytes+n > maxCacheBytes {
		c.reset()
		if n > maxCacheBytes {
			return nil
		}
	}
	rs := &rowSet{rows: rows}
	c.sets[s][string(key)] = rs
	c.bytes += n
	return rs
}

// find returns the index of row in the set and whether it is there.
func (rs *rowSet) find(row []byte) (int, bool) {
	return slices.BinarySearchFunc(rs.rows, row, func(r cachedRow, row []byte) int { return bytes.Compare(r.row, row) })
}

// put records that side s of key now holds row with entry e (if the
// key's rows are cached). row must not change afterwards.
func (c *rowCache) put(s int, key, row []byte, e entry) {
	rs := c.get(s, key)
	if rs == nil {
		return
	}
	i, ok := rs.find(row)
	if ok {
		rs.rows[i].e = e
		return
	}
	rs.rows = slices.Insert(rs.rows, i, cachedRow{row: row, e: e})
	c.bytes += len(row) + setOverhead
	if c.bytes > maxCacheBytes {
		c.reset()
	}
}

// del records that side s of key no longer holds row.
func (c *rowCache) del(s int, key, row []byte) {
	rs := c.get(s, key)
	if rs == nil {
		return
	}
	if i, ok := rs.find(row); ok {
		c.bytes -= len(rs.rows[i].row) + setOverhead
		rs.rows = slices.Delete(rs.rows, i, i+1)
	}
}
