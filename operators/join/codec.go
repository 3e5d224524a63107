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

// timed is a map key ordered by time: (t, row) of a regular join's retain
// index (row: the encoded row), or (t, seq) of an interval join's rows.
type timed struct {
	t   int64
	seq int64
	row []byte
}

// retainCodec encodes (retain, row).
type retainCodec struct{}

func (retainCodec) Encode(k timed) ([]byte, error) { return append(putInt64(nil, k.t), k.row...), nil }

func (retainCodec) Decode(b []byte) (timed, error) {
	if len(b) < 8 {
		return timed{}, fmt.Errorf("%w: join retain key of %d bytes", state.ErrCorrupt, len(b))
	}
	return timed{t: getInt64(b), row: append([]byte(nil), b[8:]...)}, nil
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
type meta struct {
	seq  int64
	rows [2]int64
}

type metaCodec struct{}

func (metaCodec) Encode(m meta) ([]byte, error) {
	b := make([]byte, 0, 3*binary.MaxVarintLen64)
	b = binary.AppendVarint(b, m.seq)
	b = binary.AppendVarint(b, m.rows[0])
	return binary.AppendVarint(b, m.rows[1]), nil
}

func (metaCodec) Decode(b []byte) (meta, error) {
	var m meta
	for _, p := range []*int64{&m.seq, &m.rows[0], &m.rows[1]} {
		v, n := binary.Varint(b)
		if n <= 0 {
			return m, fmt.Errorf("%w: join key meta", state.ErrCorrupt)
		}
		*p, b = v, b[n:]
	}
	return m, nil
}
