package expression

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/tidemark/tidemark/format/json"
)

// AppendKey appends v, an expression's result, to dst as record key bytes
// (design §2.2): a string as its UTF-8 bytes; an integer in decimal; a
// float in its shortest form as JSON writes it (3.0 is "3", equal to the
// int 3; 1e21 is "1e+21"); a bool as true or false; null as nothing (the
// empty key); []byte as it is; a list (a composite key) or an object as
// JSON text, numbers as above, objects' fields sorted. Other values, NaN
// and ±Inf are errors.
func AppendKey(dst []byte, v any) ([]byte, error) {
	switch x := scalarOf(v).(type) {
	case nil:
		return dst, nil
	case string:
		return append(dst, x...), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return dst, fmt.Errorf("key cannot be %v", x)
		}
		return json.AppendNumber(dst, x)
	case bool:
		return strconv.AppendBool(dst, x), nil
	case []byte:
		return append(dst, x...), nil
	}
	n := len(dst)
	out, err := appendKeyJSON(dst, Normalize(v), 0)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

func appendKeyJSON(dst []byte, v any, depth int) ([]byte, error) {
	if depth > 100 {
		return dst, fmt.Errorf("key nested deeper than 100 levels")
	}
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return json.AppendString(dst, x), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return dst, fmt.Errorf("key cannot hold %v", x)
		}
		return json.AppendNumber(dst, x)
	case bool:
		return strconv.AppendBool(dst, x), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendKeyJSON(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = json.AppendString(dst, k)
			dst = append(dst, ':')
			var err error
			if dst, err = appendKeyJSON(dst, x[k], depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	return dst, fmt.Errorf("key cannot be %s (want a string, number, bool, null, list or object)", describe(v))
}
