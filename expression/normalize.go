package expression

import (
	"math"
	"reflect"
)

// Normalize returns v with every integer as int64 and every float as
// float64, lists as []any and maps with string keys as map[string]any,
// recursively: the types of decoded JSON (format/json). Lists and maps
// that need no change are returned as they are, never modified; others
// are copied. Other values ([]byte, time.Time, …) are returned as they
// are.
func Normalize(v any) any {
	n, _ := normalize(v)
	return n
}

// normalize returns the normalised v and whether it differs from v.
func normalize(v any) (any, bool) {
	switch x := v.(type) {
	case nil, string, int64, float64, bool:
		return v, false
	case []any:
		var out []any
		for i, e := range x {
			n, changed := normalize(e)
			if changed && out == nil {
				out = make([]any, len(x))
				copy(out, x[:i])
			}
			if out != nil {
				out[i] = n
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			n, changed := normalize(e)
			if changed && out == nil {
				out = make(map[string]any, len(x))
				for k2, e2 := range x {
					out[k2] = e2
				}
			}
			if out != nil {
				out[k] = n
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	}
	if s, ok := scalar(v); ok {
		return s, true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return v, false // bytes
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = Normalize(rv.Index(i).Interface())
		}
		return out, true
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return v, false
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			out[it.Key().String()] = Normalize(it.Value().Interface())
		}
		return out, true
	}
	return v, false
}

// scalar converts an integer of another Go type than int64 to int64 (an
// unsigned one past math.MaxInt64 to float64) and a float32 to float64,
// reporting whether v was one.
func scalar(v any) (any, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint:
		return fromUint(uint64(x)), true
	case uint64:
		return fromUint(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case float32:
		return float64(x), true
	case *Window:
		if x == nil {
			return nil, true
		}
		return map[string]any{"start": x.Start, "end": x.End}, true
	}
	return v, false
}

// scalarOf is scalar's value alone.
func scalarOf(v any) any {
	s, _ := scalar(v)
	return s
}

func fromUint(u uint64) any {
	if u > math.MaxInt64 {
		return float64(u)
	}
	return int64(u)
}
