package json

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"
)

// ErrSyntax is wrapped by every error of Decode: the input is not JSON
// the decoder accepts.
var ErrSyntax = errors.New("json: invalid JSON")

// maxInterned bounds the object keys a Decoder keeps to share between
// decoded values (a job's records usually have a few dozen distinct keys).
const (
	maxInterned    = 4096
	maxInternedLen = 64
)

// Decoder decodes JSON into Go values (see the package doc). The zero
// value is ready to use. A Decoder is not safe for concurrent use: give
// each goroutine its own.
type Decoder struct {
	p fastjson.Parser
	// keys interns object keys, so that the maps of many records share
	// their key strings instead of allocating them per record.
	keys map[string]string
	// arena holds the bytes of the strings of the value being decoded:
	// one allocation for all of them.
	arena []byte
	num   []byte // scratch: a number's text
}

// Decode decodes b, which it does not retain. Errors wrap ErrSyntax.
func (d *Decoder) Decode(b []byte) (any, error) {
	v, err := d.p.ParseBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	// Strings never take more bytes decoded than encoded.
	d.arena = make([]byte, 0, len(b))
	out, err := d.value(v)
	d.arena = nil
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (d *Decoder) value(v *fastjson.Value) (any, error) {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		m := make(map[string]any, o.Len())
		var err error
		o.Visit(func(k []byte, e *fastjson.Value) {
			if err != nil {
				return
			}
			var x any
			if x, err = d.value(e); err == nil {
				m[d.key(k)] = x
			}
		})
		if err != nil {
			return nil, err
		}
		return m, nil
	case fastjson.TypeArray:
		a, _ := v.Array()
		out := make([]any, len(a))
		for i, e := range a {
			x, err := d.value(e)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		return d.str(s), nil
	case fastjson.TypeNumber:
		d.num = v.MarshalTo(d.num[:0])
		return number(d.num)
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse:
		return false, nil
	case fastjson.TypeNull:
		return nil, nil
	}
	return nil, fmt.Errorf("%w: unexpected value type %s", ErrSyntax, v.Type())
}

// str copies s into the arena and returns it as a string.
func (d *Decoder) str(s []byte) string {
	if len(s) == 0 {
		return ""
	}
	if !utf8.Valid(s) {
		return replaceInvalid(s)
	}
	if cap(d.arena)-len(d.arena) < len(s) {
		// Cannot happen (decoded strings are never longer than their
		// text), but a plain allocation is always correct.
		return string(s)
	}
	start := len(d.arena)
	d.arena = append(d.arena, s...)
	b := d.arena[start:len(d.arena):len(d.arena)]
	// The arena's bytes are written once and never again: later appends
	// go past them (or to a new array), so the string stays immutable.
	return unsafe.String(&b[0], len(b))
}

// replaceInvalid returns s with every byte that is not part of valid
// UTF-8 replaced by U+FFFD, as encoding/json decodes it.
func replaceInvalid(s []byte) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.Write(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

// key returns k as a string, shared with earlier records' keys.
func (d *Decoder) key(k []byte) string {
	if s, ok := d.keys[string(k)]; ok {
		return s
	}
	if !utf8.Valid(k) {
		return replaceInvalid(k)
	}
	s := string(k)
	if len(k) <= maxInternedLen {
		if d.keys == nil {
			d.keys = make(map[string]string)
		}
		if len(d.keys) < maxInterned {
			d.keys[s] = s
		}
	}
	return s
}

// number converts the text of a JSON number: int64 when integral and in
// range, float64 otherwise.
func number(raw []byte) (any, error) {
	integral, ok := validNumber(raw)
	if !ok {
		return nil, fmt.Errorf("%w: invalid number %q", ErrSyntax, raw)
	}
	s := unsafe.String(unsafe.SliceData(raw), len(raw))
	if integral {
		if n, ok := parseInt(raw); ok {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: number %s out of range", ErrSyntax, raw)
	}
	return f, nil
}

// parseInt parses an integral JSON number, reporting false on overflow.
func parseInt(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) > 19 { // 19 digits never overflow a uint64
		return 0, false
	}
	var u uint64
	for _, c := range b {
		u = u*10 + uint64(c-'0')
	}
	switch {
	case neg && u <= 1<<63:
		return -int64(u), true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// validNumber reports whether b is a number by JSON's grammar
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), and whether it is
// integral (no fraction, no exponent).
func validNumber(b []byte) (integral, ok bool) {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false, false
	}
	integral = true
	if i < len(b) && b[i] == '.' {
		integral = false
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integral = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return integral, i == len(b)
}
