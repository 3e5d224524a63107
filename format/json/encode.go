package json

import (
	"bytes"
	"encoding/base64"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// ErrUnsupportedValue is wrapped by AppendValue's errors: the value has no
// JSON text (NaN, ±Inf, a channel, a map with non-string keys).
var ErrUnsupportedValue = errors.New("json: unsupported value")

// maxDepth bounds nesting, so that a cyclic value fails instead of
// overflowing the stack.
const maxDepth = 1000

// Marshal returns the JSON text of v, objects' fields sorted.
func Marshal(v any) ([]byte, error) { return AppendValue(nil, v, nil) }

// AppendValue appends the JSON text of v to dst. When v is an object
// (map[string]any or map[string]string), its fields named in order come
// first, in that order (names absent from v are skipped, a repeated name
// is written once), then its other fields sorted; nested objects are
// sorted. On error dst is returned as it was.
func AppendValue(dst []byte, v any, order []string) ([]byte, error) {
	n := len(dst)
	out, err := appendValue(dst, v, order, 0)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

func appendValue(dst []byte, v any, order []string, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, fmt.Errorf("%w: nested deeper than %d levels (a cycle?)", ErrUnsupportedValue, maxDepth)
	}
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return AppendString(dst, x), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case float64:
		return AppendFloat(dst, x, 64)
	case bool:
		return strconv.AppendBool(dst, x), nil
	case map[string]any:
		return appendObject(dst, x, order, depth)
	case Raw:
		return appendRaw(dst, x, order, depth)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e, nil, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case float32:
		return AppendFloat(dst, float64(x), 32)
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x)
		return append(dst, '"'), nil
	case map[string]string:
		return appendStringMap(dst, x, order), nil
	case []string:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, e)
		}
		return append(dst, ']'), nil
	case stdjson.Number:
		if _, ok := validNumber([]byte(x)); !ok {
			return dst, fmt.Errorf("%w: json.Number %q is not a number", ErrUnsupportedValue, string(x))
		}
		return append(dst, x...), nil
	}
	return appendReflect(dst, v, depth)
}

func appendObject(dst []byte, m map[string]any, order []string, depth int) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '{')
	written, first := 0, true
	var err error
	for i, k := range order {
		e, ok := m[k]
		if !ok || slices.Contains(order[:i], k) {
			continue
		}
		if dst, err = appendField(dst, k, e, &first, depth); err != nil {
			return dst, err
		}
		written++
	}
	if written < len(m) {
		var buf [32]string
		keys := buf[:0]
		for k := range m {
			if written == 0 || !slices.Contains(order, k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			if dst, err = appendField(dst, k, m[k], &first, depth); err != nil {
				return dst, err
			}
		}
	}
	return append(dst, '}'), nil
}

func appendField(dst []byte, k string, v any, first *bool, depth int) ([]byte, error) {
	if !*first {
		dst = append(dst, ',')
	}
	*first = false
	dst = AppendString(dst, k)
	dst = append(dst, ':')
	return appendValue(dst, v, nil, depth+1)
}

func appendStringMap(dst []byte, m map[string]string, order []string) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	first := true
	field := func(k, v string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = AppendString(dst, k)
		dst = append(dst, ':')
		dst = AppendString(dst, v)
	}
	written := 0
	for i, k := range order {
		if v, ok := m[k]; ok && !slices.Contains(order[:i], k) {
			field(k, v)
			written++
		}
	}
	if written < len(m) {
		keys := make([]string, 0, len(m)-written)
		for k := range m {
			if written == 0 || !slices.Contains(order, k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			field(k, m[k])
		}
	}
	return append(dst, '}')
}

// appendReflect writes the kinds the type switch does not name: maps with
// string keys, slices and arrays, pointers, named types of basic kinds;
// anything else through encoding/json.
func appendReflect(dst []byte, v any, depth int) ([]byte, error) {
	if _, ok := v.(stdjson.Marshaler); ok {
		return appendStd(dst, v)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return append(dst, "null"...), nil
		}
		return appendValue(dst, rv.Elem().Interface(), nil, depth+1)
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return dst, fmt.Errorf("%w: map with %s keys", ErrUnsupportedValue, rv.Type().Key())
		}
		if rv.IsNil() {
			return append(dst, "null"...), nil
		}
		keys := rv.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			switch sa, sb := a.String(), b.String(); {
			case sa < sb:
				return -1
			case sa > sb:
				return 1
			}
			return 0
		})
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, k.String())
			dst = append(dst, ':')
			var err error
			if dst, err = appendValue(dst, rv.MapIndex(k).Interface(), nil, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i := range rv.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, rv.Index(i).Interface(), nil, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case reflect.String:
		return AppendString(dst, rv.String()), nil
	case reflect.Bool:
		return strconv.AppendBool(dst, rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(dst, rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(dst, rv.Uint(), 10), nil
	case reflect.Float32:
		return AppendFloat(dst, rv.Float(), 32)
	case reflect.Float64:
		return AppendFloat(dst, rv.Float(), 64)
	case reflect.Struct:
		return appendStd(dst, v)
	}
	return dst, fmt.Errorf("%w: %T", ErrUnsupportedValue, v)
}

// appendStd writes v with encoding/json (structs, time.Time, Marshalers),
// without HTML escaping.
func appendStd(dst []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := stdjson.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, fmt.Errorf("%w: %T: %v", ErrUnsupportedValue, v, err)
	}
	return append(dst, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

// AppendFloat appends f as a JSON number that reads back as a float:
// the shortest text that parses to f (bits 32 or 64), in exponent form
// below 1e-6 and from 1e21 on (as encoding/json and JavaScript), with
// ".0" added to an integral value ("3.0"). NaN and ±Inf are refused.
func AppendFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("%w: %v", ErrUnsupportedValue, f)
	}
	start := len(dst)
	dst = appendShortest(dst, f, bits)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' {
			return dst, nil
		}
	}
	return append(dst, ".0"...), nil
}

// AppendNumber appends f in its shortest JSON form, the way
// encoding/json writes a float64: integral values without a fraction
// ("3"), so an integral float and the equal int64 give the same text. NaN
// and ±Inf are refused.
func AppendNumber(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("%w: %v", ErrUnsupportedValue, f)
	}
	return appendShortest(dst, f, 64), nil
}

func appendShortest(dst []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as encoding/json
// escapes it without its HTML escaping: quote, backslash, control
// characters, U+2028 and U+2029; invalid UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
