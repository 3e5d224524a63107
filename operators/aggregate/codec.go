package aggregate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators/state"
)

// errCorrupt: a stored accumulator cannot be read.
var errCorrupt = errors.New("aggregate: corrupt state")

// Value tags of the value encoding (stored: never change them).
const (
	tagNull   = 'n'
	tagInt    = 'i'
	tagFloat  = 'f'
	tagString = 's'
	tagTrue   = 't'
	tagFalse  = 'F'
	tagJSON   = 'j' // lists and objects, as JSON text
)

// appendValue appends v (a decoded value) in the value encoding.
func appendValue(dst []byte, v any) ([]byte, error) {
	switch x := normNumber(v).(type) {
	case nil:
		return append(dst, tagNull), nil
	case int64:
		return binary.AppendVarint(append(dst, tagInt), x), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, tagFloat), math.Float64bits(x)), nil
	case string:
		dst = binary.AppendUvarint(append(dst, tagString), uint64(len(x)))
		return append(dst, x...), nil
	case bool:
		if x {
			return append(dst, tagTrue), nil
		}
		return append(dst, tagFalse), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("aggregate: cannot keep %s: %w", kindOf(v), err)
	}
	dst = binary.AppendUvarint(append(dst, tagJSON), uint64(len(j)))
	return append(dst, j...), nil
}

// reader reads the encodings; the first error sticks.
type reader struct {
	b   []byte
	err error
	dec *json.Decoder
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errCorrupt
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uint64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if uint64(len(r.b)) < n {
		r.fail()
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) value() any {
	switch r.byte() {
	case tagNull:
		return nil
	case tagInt:
		return r.varint()
	case tagFloat:
		return math.Float64frombits(r.uint64())
	case tagString:
		return string(r.bytes())
	case tagTrue:
		return true
	case tagFalse:
		return false
	case tagJSON:
		b := r.bytes()
		if r.err != nil {
			return nil
		}
		if r.dec == nil {
			r.dec = &json.Decoder{}
		}
		v, err := r.dec.Decode(b)
		if err != nil {
			r.err = fmt.Errorf("%w: %w", errCorrupt, err)
		}
		return v
	}
	r.fail()
	return nil
}

// Accumulator encoding (stored): version, flags, rows, sid, ts, access,
// the group values, then per function what it keeps.
const accVersion = 1

const flagFired = 1

// encodeAcc appends a's encoding for the functions defs.
func encodeAcc(dst []byte, a *acc, defs []aggDef) ([]byte, error) {
	var flags byte
	if a.fired {
		flags |= flagFired
	}
	dst = append(dst, accVersion, flags)
	dst = binary.AppendVarint(dst, a.rows)
	dst = binary.AppendVarint(dst, a.sid[0])
	dst = binary.AppendVarint(dst, a.sid[1])
	dst = binary.AppendVarint(dst, a.ts)
	dst = binary.AppendVarint(dst, a.access)
	var err error
	if len(a.groupRaw) == 0 && a.group != nil {
		if a.groupRaw, err = encodeGroup(a.groupRaw[:0], a.group); err != nil {
			return dst, err
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(a.groupRaw)))
	dst = append(dst, a.groupRaw...)
	for i := range defs {
		s := &a.aggs[i]
		dst = binary.AppendVarint(dst, s.n)
		switch defs[i].fn {
		case fnSum, fnAvg:
			dst = binary.AppendVarint(dst, s.isum)
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(s.fsum))
			dst = binary.AppendVarint(dst, s.nf)
		case fnMin, fnMax, fnFirst, fnLast:
			if !s.has {
				dst = append(dst, 0)
				continue
			}
			dst = append(dst, 1)
			if dst, err = appendValue(dst, s.val); err != nil {
				return dst, err
			}
			dst = binary.AppendVarint(dst, s.ts)
		}
	}
	return dst, nil
}

// decodeAcc reads an accumulator for the functions defs into a.
func decodeAcc(b []byte, a *acc, defs []aggDef, dec *json.Decoder) error {
	r := reader{b: b, dec: dec}
	if v := r.byte(); v != accVersion && r.err == nil {
		return fmt.Errorf("%w: accumulator version %d (this build reads %d)", errCorrupt, v, accVersion)
	}
	flags := r.byte()
	a.fired = flags&flagFired != 0
	a.rows = r.varint()
	a.sid[0], a.sid[1] = r.varint(), r.varint()
	a.ts, a.access = r.varint(), r.varint()
	a.groupRaw = append(a.groupRaw[:0], r.bytes()...)
	a.group = nil
	if len(a.aggs) != len(defs) {
		a.aggs = make([]aggState, len(defs))
	}
	for i := range defs {
		s := &a.aggs[i]
		*s = aggState{n: r.varint()}
		switch defs[i].fn {
		case fnSum, fnAvg:
			s.isum = r.varint()
			s.fsum = math.Float64frombits(r.uint64())
			s.nf = r.varint()
		case fnMin, fnMax, fnFirst, fnLast:
			if r.byte() == 1 {
				s.has = true
				s.val = r.value()
				s.ts = r.varint()
			}
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return fmt.Errorf("accumulator %x: %w", b, r.err)
	}
	return nil
}

// window is a window [start, end) of event time in ms.
type window struct{ start, end int64 }

// winCodec encodes a window as its start then its end, each 8 bytes
// ordered (state.Int64), so a group's windows range by start.
type winCodec struct{ buf *[16]byte }

func (c winCodec) Encode(w window) ([]byte, error) {
	binary.BigEndian.PutUint64(c.buf[:8], uint64(w.start)^(1<<63))
	binary.BigEndian.PutUint64(c.buf[8:], uint64(w.end)^(1<<63))
	return c.buf[:], nil
}

func (winCodec) Decode(b []byte) (window, error) {
	if len(b) != 16 {
		return window{}, fmt.Errorf("%w: window key of %d bytes, want 16", errCorrupt, len(b))
	}
	s, _ := state.Int64{}.Decode(b[:8])
	e, _ := state.Int64{}.Decode(b[8:])
	return window{s, e}, nil
}

// appendSid appends the prefix of a window's count_distinct entries.
func appendSid(dst []byte, sid [2]int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(sid[0])^(1<<63))
	return binary.BigEndian.AppendUint64(dst, uint64(sid[1])^(1<<63))
}

// appendDistinct appends the encoding of a count_distinct value: the value
// encoding, with integral floats as ints (3.0 and 3 are one value).
func appendDistinct(dst []byte, v any) ([]byte, error) {
	if f, ok := normNumber(v).(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		v = int64(f)
	}
	return appendValue(dst, v)
}

// decodeValue decodes one value of the value encoding that is all of b.
func decodeValue(b []byte, dec *json.Decoder) (any, error) {
	r := reader{b: b, dec: dec}
	v := r.value()
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	return v, r.err
}

// encodeGroup appends the encoding of group_by values: their number, then
// each value.
func encodeGroup(dst []byte, group []any) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(group)))
	var err error
	for _, g := range group {
		if dst, err = appendValue(dst, g); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// decodeGroup reads group_by values encoded by encodeGroup.
func decodeGroup(b []byte, dec *json.Decoder) ([]any, error) {
	r := reader{b: b, dec: dec}
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		n = 0
	}
	group := make([]any, n)
	for i := range group {
		group[i] = r.value()
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return nil, fmt.Errorf("group values %x: %w", b, r.err)
	}
	return group, nil
}
