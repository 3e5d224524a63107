package rank

import (
	"encoding/binary"
	"math"

	"github.com/tidemark/tidemark/expression"
)

// Tags of sort key values, in the order of their kinds: null first
// (ascending), then bools, numbers, strings, and anything else (lists and
// objects, by their JSON text).
const (
	tagNull   = 0x00
	tagBool   = 0x01
	tagNumber = 0x02
	tagString = 0x03
	tagOther  = 0x04
)

// appendSortValue appends the order-preserving encoding of v: the byte
// order of two encodings is the order of the values, reversed when desc.
// Every encoding is prefix-free (fixed length, or escaped and
// terminated), so encodings of several values compare part by part.
func appendSortValue(dst []byte, v any, desc bool) ([]byte, error) {
	start := len(dst)
	switch x := v.(type) {
	case nil:
		dst = append(dst, tagNull)
	case bool:
		b := byte(0)
		if x {
			b = 1
		}
		dst = append(dst, tagBool, b)
	case int64:
		dst = appendNumber(dst, float64(x), intRest(x))
	case float64:
		dst = appendNumber(dst, x, 0)
	case string:
		dst = appendEscaped(append(dst, tagString), x)
	default:
		text, err := expression.AppendKey(nil, v)
		if err != nil {
			return dst, err
		}
		dst = appendEscaped(append(dst, tagOther), string(text))
	}
	if desc {
		for i := start; i < len(dst); i++ {
			dst[i] = ^dst[i]
		}
	}
	return dst, nil
}

// appendNumber encodes a number as its float64 value, order-preserving,
// then what an integer has beyond it (an int64 above 2^53 rounds to a
// float: rest tells such integers apart, and from the float they round
// to).
func appendNumber(dst []byte, f float64, rest int64) []byte {
	if f == 0 {
		f = 0 // -0 sorts as 0
	}
	bits := math.Float64bits(f)
	if bits&(1<<63) != 0 {
		bits = ^bits
	} else {
		bits |= 1 << 63
	}
	dst = binary.BigEndian.AppendUint64(append(dst, tagNumber), bits)
	return binary.BigEndian.AppendUint64(dst, uint64(rest)^(1<<63))
}

// intRest is x minus the integer float64(x) stands for.
func intRest(x int64) int64 {
	f := float64(x)
	if f >= math.MaxInt64 { // 2^63, no int64
		return x - math.MaxInt64 - 1
	}
	return x - int64(f)
}

// appendEscaped appends s with 0x00 escaped as 0x00 0xff and terminated
// by 0x00 0x01, so that no encoding is a prefix of another.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, 0, 0xff)
			continue
		}
		dst = append(dst, s[i])
	}
	return append(dst, 0, 1)
}
