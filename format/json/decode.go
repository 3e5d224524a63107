package json

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// ErrSyntax is wrapped by every error of Decode: the input is not JSON
// the decoder accepts.
var ErrSyntax = errors.New("json: invalid JSON")

// maxInterned bounds the object keys a Decoder keeps to share between
// decoded values (a job's records usually have a few dozen distinct keys).
const (
	maxInterned    = 4096
	maxInternedLen = 64
	// maxDecodeDepth bounds the nesting of values (fastjson's MaxDepth, which
	// this decoder replaced).
	maxDecodeDepth = 300
)

// Decoder decodes JSON into Go values (see the package doc). The zero
// value is ready to use. A Decoder is not safe for concurrent use: give
// each goroutine its own.
//
// It parses in one pass, straight into the values it returns (it used to
// parse with fastjson, then walk fastjson's tree; the grammar it accepts
// is fastjson's, see the package doc).
type Decoder struct {
	// keys interns object keys, so that the maps of many records share
	// their key strings instead of allocating them per record.
	keys map[string]string
	// arena holds the bytes of the strings of the value being decoded:
	// one allocation for all of them.
	arena []byte
	// kvs and items are stacks of the fields and elements of the objects
	// and arrays being decoded, so that each map and slice is made once
	// with its final size.
	kvs   []kv
	items []any
	esc   []byte // scratch: a string's unescaped bytes
	// ix is Lazy's scratch index.
	ix indexer
}

type kv struct {
	k string
	v any
}

// Decode decodes b, which it does not retain. Errors wrap ErrSyntax.
func (d *Decoder) Decode(b []byte) (any, error) {
	// Strings never take more bytes decoded than encoded.
	d.arena = make([]byte, 0, len(b))
	out, rest, err := d.value(b, skipWS(b), 1)
	d.arena = nil
	clear(d.kvs[:cap(d.kvs)])
	clear(d.items[:cap(d.items)])
	d.kvs, d.items = d.kvs[:0], d.items[:0]
	if err == nil && len(skipWS(b[len(b)-len(rest):])) > 0 {
		err = syntaxErrorf(b, rest, "unexpected data after the value")
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// syntaxErrorf is an ErrSyntax at the start of rest, a tail of in.
func syntaxErrorf(in, rest []byte, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if len(rest) > 20 {
		rest = rest[:20]
	}
	return fmt.Errorf("%w: %s at offset %d (%q)", ErrSyntax, msg, len(in)-len(rest), rest)
}

// skipWS skips JSON whitespace.
func skipWS(s []byte) []byte {
	for len(s) > 0 {
		switch s[0] {
		case ' ', '\n', '\t', '\r':
			s = s[1:]
			continue
		}
		break
	}
	return s
}

// value decodes the value at the start of s (whitespace skipped), nested
// depth deep, and returns what follows it. in is the whole input, for
// error offsets.
func (d *Decoder) value(in, s []byte, depth int) (any, []byte, error) {
	if len(s) == 0 {
		return nil, s, syntaxErrorf(in, s, "unexpected end of input")
	}
	if depth > maxDecodeDepth {
		return nil, s, syntaxErrorf(in, s, "values nested more than %d deep", maxDecodeDepth)
	}
	switch c := s[0]; {
	case c == '{':
		return d.object(in, s[1:], depth)
	case c == '[':
		return d.array(in, s[1:], depth)
	case c == '"':
		raw, rest, ok := rawString(s[1:])
		if !ok {
			return nil, s, syntaxErrorf(in, s, "missing closing '\"'")
		}
		return d.str(d.unescape(raw)), rest, nil
	case c == 't':
		if len(s) >= 4 && string(s[:4]) == "true" {
			return true, s[4:], nil
		}
	case c == 'f':
		if len(s) >= 5 && string(s[:5]) == "false" {
			return false, s[5:], nil
		}
	case c == 'n':
		if len(s) >= 4 && string(s[:4]) == "null" {
			return nil, s[4:], nil
		}
	default:
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == '-' || s[i] == 'e' || s[i] == 'E' || s[i] == '+') {
			i++
		}
		if i == 0 {
			break
		}
		n, err := number(s[:i])
		if err != nil {
			return nil, s, err
		}
		return n, s[i:], nil
	}
	return nil, s, syntaxErrorf(in, s, "unexpected value")
}

func (d *Decoder) object(in, s []byte, depth int) (any, []byte, error) {
	base := len(d.kvs)
	s = skipWS(s)
	if len(s) > 0 && s[0] == '}' {
		return map[string]any{}, s[1:], nil
	}
	for {
		s = skipWS(s)
		if len(s) == 0 || s[0] != '"' {
			return nil, s, syntaxErrorf(in, s, "want an object key")
		}
		raw, rest, ok := rawString(s[1:])
		if !ok {
			return nil, s, syntaxErrorf(in, s, "missing closing '\"' of a key")
		}
		k := d.key(d.unescape(raw))
		s = skipWS(rest)
		if len(s) == 0 || s[0] != ':' {
			return nil, s, syntaxErrorf(in, s, "want ':' after an object key")
		}
		v, rest, err := d.value(in, skipWS(s[1:]), depth+1)
		if err != nil {
			return nil, rest, err
		}
		d.kvs = append(d.kvs, kv{k, v})
		s = skipWS(rest)
		if len(s) > 0 && s[0] == ',' {
			s = s[1:]
			continue
		}
		if len(s) > 0 && s[0] == '}' {
			break
		}
		return nil, s, syntaxErrorf(in, s, "want ',' or '}' in an object")
	}
	fields := d.kvs[base:]
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		m[f.k] = f.v // a repeated key: the last wins
	}
	clear(fields)
	d.kvs = d.kvs[:base]
	return m, s[1:], nil
}

func (d *Decoder) array(in, s []byte, depth int) (any, []byte, error) {
	base := len(d.items)
	s = skipWS(s)
	if len(s) > 0 && s[0] == ']' {
		return []any{}, s[1:], nil
	}
	for {
		v, rest, err := d.value(in, skipWS(s), depth+1)
		if err != nil {
			return nil, rest, err
		}
		d.items = append(d.items, v)
		s = skipWS(rest)
		if len(s) > 0 && s[0] == ',' {
			s = s[1:]
			continue
		}
		if len(s) > 0 && s[0] == ']' {
			break
		}
		return nil, s, syntaxErrorf(in, s, "want ',' or ']' in an array")
	}
	out := make([]any, len(d.items)-base)
	copy(out, d.items[base:])
	clear(d.items[base:])
	d.items = d.items[:base]
	return out, s[1:], nil
}

// rawString returns the text of the string whose opening quote precedes
// s, up to its closing quote (a quote after an odd number of backslashes
// is escaped), and what follows that quote.
func rawString(s []byte) (raw, rest []byte, ok bool) {
	from := 0
	for {
		n := bytes.IndexByte(s[from:], '"')
		if n < 0 {
			return nil, nil, false
		}
		n += from
		i := n
		for i > 0 && s[i-1] == '\\' {
			i--
		}
		if (n-i)%2 == 0 {
			return s[:n], s[n+1:], true
		}
		from = n + 1
	}
}

// unescape returns raw with its escapes replaced, as fastjson does it:
// an unknown escape, a \u without four hex digits and an unpaired
// surrogate escape are kept as written; a surrogate escape followed by
// another \u escape makes one rune of the two (U+FFFD if they are no
// pair). The result may be d.esc: use it before the next unescape.
func (d *Decoder) unescape(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	d.esc = appendUnescaped(d.esc[:0], raw)
	return d.esc
}

// appendUnescaped appends raw, which holds a backslash, with its escapes
// replaced (see unescape) to b.
func appendUnescaped(b, raw []byte) []byte {
	n := bytes.IndexByte(raw, '\\')
	b = append(b, raw[:n]...)
	s := raw[n+1:]
	for {
		if len(s) == 0 {
			break
		}
		ch := s[0]
		s = s[1:]
		switch ch {
		case '"':
			b = append(b, '"')
		case '\\':
			b = append(b, '\\')
		case '/':
			b = append(b, '/')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			x, ok := hex4(s)
			if !ok {
				b = append(b, "\\u"...)
				break
			}
			xs := s[:4]
			s = s[4:]
			if !utf16.IsSurrogate(x) {
				b = utf8.AppendRune(b, x)
				break
			}
			var x1 rune
			if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
				x1, ok = hex4(s[2:])
			} else {
				ok = false
			}
			if !ok {
				b = append(b, "\\u"...)
				b = append(b, xs...)
				break
			}
			b = utf8.AppendRune(b, utf16.DecodeRune(x, x1))
			s = s[6:]
		default:
			b = append(b, '\\', ch)
		}
		n = bytes.IndexByte(s, '\\')
		if n < 0 {
			b = append(b, s...)
			break
		}
		b = append(b, s[:n]...)
		s = s[n+1:]
	}
	return b
}

// hex4 parses the four hex digits at the start of s (strconv.ParseUint's
// syntax: no sign, no prefix).
func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var x rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			x = x<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			x = x<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			x = x<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return x, true
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
