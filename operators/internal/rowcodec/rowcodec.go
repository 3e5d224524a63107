package rowcodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	jsonfmt "github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// version is the first byte of every encoded row.
const version = 1

// Flags of an encoded row.
const (
	flagData   = 1 << iota // the value is JSON text of Data
	flagRaw                // the value is undecoded bytes
	flagWindow             // window start and end follow
	flagSource             // topic, partition and offset follow
)

// ErrCorrupt is wrapped by Decode's errors: the bytes are no row.
var ErrCorrupt = errors.New("rowcodec: corrupt row")

// Append appends the encoding of r (all of it but its Kind) to dst. It
// fails only for a value JSON cannot hold (NaN, ±Inf).
func Append(dst []byte, r *operators.Record) ([]byte, error) {
	var flags byte
	switch {
	case r.Data != nil:
		flags |= flagData
	case r.Value != nil:
		flags |= flagRaw
	}
	if r.HasWindow() {
		flags |= flagWindow
	}
	if r.Topic != "" {
		flags |= flagSource
	}
	dst = append(dst, version, flags)
	dst = binary.AppendVarint(dst, r.Timestamp)
	dst = appendBytes(dst, r.Key)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendBytes(dst, []byte(h.Key))
		dst = appendBytes(dst, h.Value)
	}
	if flags&flagWindow != 0 {
		dst = binary.AppendVarint(dst, r.WindowStart)
		dst = binary.AppendVarint(dst, r.WindowEnd)
	}
	if flags&flagSource != 0 {
		dst = appendBytes(dst, []byte(r.Topic))
		dst = binary.AppendVarint(dst, int64(r.Partition))
		dst = binary.AppendVarint(dst, r.Offset)
	}
	switch {
	case flags&flagData != 0:
		n := len(dst)
		var err error
		if dst, err = jsonfmt.AppendValue(dst, r.Data, nil); err != nil {
			return dst[:n], fmt.Errorf("rowcodec: the value cannot be kept in state: %w", err)
		}
	case flags&flagRaw != 0:
		dst = append(dst, r.Value...)
	}
	return dst, nil
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// Decoder decodes rows. The zero value is ready to use; one Decoder
// belongs to one goroutine.
type Decoder struct {
	json jsonfmt.Decoder
}

// Decode returns the record b encodes, with Kind Insert. The record does
// not share memory with b.
func (d *Decoder) Decode(b []byte) (operators.Record, error) {
	var r operators.Record
	rd := reader{b: b}
	if v := rd.byte(); v != version {
		return r, fmt.Errorf("%w: version %d, want %d", ErrCorrupt, v, version)
	}
	flags := rd.byte()
	r.Timestamp = rd.varint()
	r.Key = rd.bytes()
	if n := rd.uvarint(); n > 0 && n <= uint64(len(b)) {
		r.Headers = make([]operators.Header, n)
		for i := range r.Headers {
			r.Headers[i] = operators.Header{Key: string(rd.bytes()), Value: rd.bytes()}
		}
	}
	if flags&flagWindow != 0 {
		r.WindowStart, r.WindowEnd = rd.varint(), rd.varint()
	}
	if flags&flagSource != 0 {
		r.Topic = string(rd.bytes())
		r.Partition = int32(rd.varint())
		r.Offset = rd.varint()
	}
	if rd.err {
		return r, fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	rest := rd.b
	switch {
	case flags&flagData != 0:
		v, err := d.json.Decode(rest)
		if err != nil {
			return r, fmt.Errorf("%w: value: %v", ErrCorrupt, err)
		}
		r.Data = v
	case flags&flagRaw != 0:
		r.Value = append([]byte{}, rest...)
	}
	return r, nil
}

type reader struct {
	b   []byte
	err bool
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.err = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err || n > uint64(len(r.b)) {
		r.err = true
		return nil
	}
	if n == 0 {
		return nil
	}
	out := append([]byte{}, r.b[:n]...)
	r.b = r.b[n:]
	return out
}

// TaskKey returns a key whose key group the backend holds, made of
// prefix and a number: where an operator keeps what it has per task (its
// watermark) rather than per key. The same backend range gives the same
// key. It returns nil when the backend holds no key group.
func TaskKey(b *state.Backend, prefix string) []byte {
	kgs := b.KeyGroups()
	if kgs.Len() == 0 {
		return nil
	}
	for i := 0; ; i++ {
		k := strconv.AppendInt([]byte(prefix), int64(i), 10)
		if kgs.Contains(state.KeyGroup(k, b.MaxParallelism())) {
			return k
		}
	}
}
