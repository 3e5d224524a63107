package join

import (
	"encoding/binary"
	"fmt"

	"github.com/tidemark/tidemark/operators/state"
)

// entry is what a regular join keeps per distinct row of a key.
type entry struct {
	// count is how many times the row is in (equal rows share an entry).
	count int64
	// matches counts the other side's rows the row joins with (a left
	// join's left rows only: it says when (left, null) is to be emitted
	// or retracted).
	matches int64
	// ts is the row's latest event time.
	ts int64
	// retain is when the row can no longer match (math.MaxInt64: never).
	retain int64
}

type entryCodec struct{}

func (entryCodec) Encode(e entry) ([]byte, error) {
	b := make([]byte, 0, 4*binary.MaxVarintLen64)
	b = binary.AppendVarint(b, e.count)
	b = binary.AppendVarint(b, e.matches)
	b = binary.AppendVarint(b, e.ts)
	return binary.AppendVarint(b, e.retain), nil
}

func (entryCodec) Decode(b []byte) (entry, error) {
	var e entry
	for _, p := range []*int64{&e.count, &e.matches, &e.ts, &e.retain} {
		v, n := binary.Varint(b)
		if n <= 0 {
			return e, fmt.Errorf("%w: join row entry", state.ErrCorrupt)
		}
		*p, b = v, b[n:]
	}
	return e, nil
}

// putInt64 appends v so that byte order is numeric order (state.Int64).
func putInt64(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

func getInt64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// timed is a map key ordered by time: (t, seq) of an interval join's rows.
type timed struct {
	t   int64
	seq int64
}

// seqCodec encodes (t, seq).
type seqCodec struct{}

func (seqCodec) Encode(k timed) ([]byte, error) { return putInt64(putInt64(nil, k.t), k.seq), nil }

func (seqCodec) Decode(b []byte) (timed, error) {
	if len(b) != 16 {
		return timed{}, fmt.Errorf("%w: join row key of %d bytes", state.ErrCorrupt, len(b))
	}
	return timed{t: getInt64(b), seq: getInt64(b[8:])}, nil
}

// slot is a window join's map key: the window (ordered by end, so that
// the windows due are a prefix) and the row's seq.
type slot struct{ end, start, seq int64 }

type slotCodec struct{}

func (slotCodec) Encode(k slot) ([]byte, error) {
	return putInt64(putInt64(putInt64(make([]byte, 0, 24), k.end), k.start), k.seq), nil
}

func (slotCodec) Decode(b []byte) (slot, error) {
	if len(b) != 24 {
		return slot{}, fmt.Errorf("%w: join window key of %d bytes", state.ErrCorrupt, len(b))
	}
	return slot{end: getInt64(b), start: getInt64(b[8:]), seq: getInt64(b[16:])}, nil
}

// meta is what an interval or window join keeps per key besides its
// rows: the last seq given out, and how many rows each side holds (so
// that a side without rows is never scanned: a point lookup costs far
// less than an iterator).
//
// An interval join also lists the (t, seq) of every row of the key while
// there are few (listed): it then finds the rows that match and those
// that expire without an iterator, by point reads and blind deletes.
// Past maxListed rows on a side, or for a meta written before lists
// existed, listed is false and the rows are scanned.
type meta struct {
	seq    int64
	rows   [2]int64
	listed bool
	refs   [2][]timed // listed: each side's rows, in (t, seq) order
}

// maxListed bounds the rows a side lists in its key's meta: the meta is
// rewritten with every row, so its size must stay small. (A variable for
// tests only.)
var maxListed = 64

// metaListed marks a meta encoding followed by its lists.
const metaListed = 1

type metaCodec struct{}

func (metaCodec) Encode(m meta) ([]byte, error) {
	b := make([]byte, 0, 3*binary.MaxVarintLen64)
	b = binary.AppendVarint(b, m.seq)
	b = binary.AppendVarint(b, m.rows[0])
	b = binary.AppendVarint(b, m.rows[1])
	if !m.listed {
		return b, nil
	}
	b = append(b, metaListed)
	for s := range 2 {
		b = binary.AppendUvarint(b, uint64(len(m.refs[s])))
		for _, r := range m.refs[s] {
			b = binary.AppendVarint(binary.AppendVarint(b, r.t), r.seq)
		}
	}
	return b, nil
}

func (metaCodec) Decode(b []byte) (meta, error) {
	var m meta
	corrupt := fmt.Errorf("%w: join key meta", state.ErrCorrupt)
	for _, p := range []*int64{&m.seq, &m.rows[0], &m.rows[1]} {
		v, n := binary.Varint(b)
		if n <= 0 {
			return m, corrupt
		}
		*p, b = v, b[n:]
	}
	if len(b) == 0 {
		return m, nil // no lists (a window join's, or written before lists)
	}
	if b[0] != metaListed {
		return m, corrupt
	}
	b = b[1:]
	m.listed = true
	for s := range 2 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) {
			return m, corrupt
		}
		b = b[k:]
		m.refs[s] = make([]timed, n)
		for i := range m.refs[s] {
			for _, p := range []*int64{&m.refs[s][i].t, &m.refs[s][i].seq} {
				v, k := binary.Varint(b)
				if k <= 0 {
					return m, corrupt
				}
				*p, b = v, b[k:]
			}
		}
	}
	if len(b) > 0 {
		return m, corrupt
	}
	return m, nil
}
