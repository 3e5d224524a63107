package state

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Codec turns values of type T into bytes and back. Map keys are stored
// encoded, so a map's Range visits entries in the byte order of their
// encoded keys.
//
// Decode must not retain b: it is only valid during the call.
type Codec[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(b []byte) (T, error)
}

// appendEncoder is implemented by codecs that can encode into a buffer
// without allocating.
type appendEncoder[T any] interface {
	AppendEncode(dst []byte, v T) ([]byte, error)
}

// Bytes is the identity codec for []byte.
type Bytes struct{}

// Encode implements Codec.
func (Bytes) Encode(v []byte) ([]byte, error) { return v, nil }

// Decode implements Codec; it returns a copy of b.
func (Bytes) Decode(b []byte) ([]byte, error) { return append([]byte{}, b...), nil }

// String encodes a string as its bytes.
type String struct{}

// Encode implements Codec.
func (String) Encode(v string) ([]byte, error) { return []byte(v), nil }

// Decode implements Codec.
func (String) Decode(b []byte) (string, error) { return string(b), nil }

// Int64 encodes an int64 as 8 bytes big-endian with the sign bit flipped, so
// that the byte order of encoded values is their numeric order (a Map with
// Int64 keys ranges in ascending numeric order).
type Int64 struct{}

// Encode implements Codec.
func (Int64) Encode(v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(v)^(1<<63)), nil
}

// AppendEncode appends the encoding of v to dst.
func (Int64) AppendEncode(dst []byte, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63)), nil
}

// Decode implements Codec.
func (Int64) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("state: Int64 codec: %d bytes, want 8", len(b))
	}
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)), nil
}

// JSON encodes values of type T with encoding/json.
type JSON[T any] struct{}

// Encode implements Codec.
func (JSON[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }

// Decode implements Codec.
func (JSON[T]) Decode(b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}
