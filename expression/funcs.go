package expression

import (
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/expr-lang/expr"

	"github.com/tidemark/tidemark/format/json"
)

// functions are the functions expressions get besides expr's built-ins.
func functions() []expr.Option {
	return []expr.Option{
		expr.Function("format_time", formatTime, new(func(any, string) any)),
		expr.Function("parse_time", parseTime, new(func(any, string) any)),
		expr.Function("round_to", roundTo, new(func(any, int) any)),
		expr.Function("json_encode", jsonEncode, new(func(any) string)),
		expr.Function("json_decode", jsonDecode, new(func(any) any)),
		expr.Function("coalesce", coalesce),
	}
}

func formatTime(args ...any) (any, error) {
	if args[0] == nil {
		return nil, nil
	}
	ms, ok := toInt64(args[0])
	if !ok {
		return nil, fmt.Errorf("format_time: ms must be a number, got %s", describe(args[0]))
	}
	layout, ok := args[1].(string)
	if !ok {
		return nil, fmt.Errorf("format_time: layout must be a string, got %s", describe(args[1]))
	}
	return FormatTime(ms, layout), nil
}

func parseTime(args ...any) (any, error) {
	if args[0] == nil {
		return nil, nil
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("parse_time: want a string, got %s", describe(args[0]))
	}
	layout, ok := args[1].(string)
	if !ok {
		return nil, fmt.Errorf("parse_time: layout must be a string, got %s", describe(args[1]))
	}
	ms, err := ParseTime(s, layout)
	if err != nil {
		return nil, fmt.Errorf("parse_time: %w", err)
	}
	return ms, nil
}

func roundTo(args ...any) (any, error) {
	if args[0] == nil {
		return nil, nil
	}
	n, ok := toInt64(args[1])
	if f, isFloat := args[1].(float64); isFloat && f != math.Trunc(f) {
		ok = false
	}
	if !ok || n < -18 || n > 18 {
		return nil, fmt.Errorf("round_to: decimals must be an integer in [-18, 18], got %s", describe(scalarOf(args[1])))
	}
	switch x := scalarOf(args[0]).(type) {
	case int64:
		return roundInt(x, int(n)), nil
	case float64:
		return RoundTo(x, int(n)), nil
	}
	return nil, fmt.Errorf("round_to: want a number, got %s", describe(args[0]))
}

// roundInt rounds x to 10^-n (n < 0), half away from zero.
func roundInt(x int64, n int) int64 {
	if n >= 0 {
		return x
	}
	p := int64(1)
	for range -n {
		if p > math.MaxInt64/10 {
			return 0
		}
		p *= 10
	}
	q, r := x/p, x%p
	if r < 0 {
		r = -r
	}
	if r >= p-r { // r >= p/2, exactly
		if x < 0 {
			q--
		} else {
			q++
		}
	}
	return q * p
}

// RoundTo rounds x to n decimals (n < 0: to tens, hundreds, …), half away
// from zero, on x as it reads in decimal (its shortest representation), so
// RoundTo(1.005, 2) is 1.01 though the float 1.005 is a little less.
func RoundTo(x float64, n int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) || x == 0 {
		return x
	}
	if n >= 0 && n <= 22 {
		p := math.Pow10(n)
		y := x * p
		if math.Abs(y) >= 1<<52 {
			return x // no digits below the n-th decimal
		}
		// Away from a tie the float product rounds like the decimal
		// number (its error is far below the distance to the tie), and
		// the division is correctly rounded.
		if f := math.Abs(y - math.Trunc(y)); math.Abs(f-0.5) > 1e-6 {
			return math.Round(y) / p
		}
	}
	return roundDecimal(x, n)
}

// roundDecimal rounds the shortest decimal form of x.
func roundDecimal(x float64, n int) float64 {
	neg := x < 0
	// d.ddddde±XX: digits D, value 0.D × 10^(exp+1).
	s := strconv.FormatFloat(math.Abs(x), 'e', -1, 64)
	mant, expPart, _ := cutByte(s, 'e')
	exp, _ := strconv.Atoi(expPart)
	digits := make([]byte, 0, len(mant))
	for i := 0; i < len(mant); i++ {
		if mant[i] != '.' {
			digits = append(digits, mant[i])
		}
	}
	keep := exp + 1 + n // digits before the cut
	if keep >= len(digits) {
		return x
	}
	if keep < 0 {
		return math.Copysign(0, x)
	}
	up := digits[keep] >= '5'
	digits = digits[:keep]
	point := exp + 1 // the decimal point is after this many digits
	if up {
		i := len(digits) - 1
		for ; i >= 0; i-- {
			if digits[i] < '9' {
				digits[i]++
				break
			}
			digits[i] = '0'
		}
		if i < 0 {
			digits = append([]byte{'1'}, digits...)
			point++
		}
	}
	if len(digits) == 0 {
		return math.Copysign(0, x)
	}
	text := "0." + string(digits) + "e" + strconv.Itoa(point)
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return x
	}
	if neg {
		f = -f
	}
	return f
}

func cutByte(s string, c byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func jsonEncode(args ...any) (any, error) {
	b, err := json.Marshal(args[0])
	if err != nil {
		return nil, fmt.Errorf("json_encode: %w", err)
	}
	return string(b), nil
}

var decoders = sync.Pool{New: func() any { return new(json.Decoder) }}

func jsonDecode(args ...any) (any, error) {
	if args[0] == nil {
		return nil, nil
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("json_decode: want a string, got %s", describe(args[0]))
	}
	d := decoders.Get().(*json.Decoder)
	defer decoders.Put(d)
	v, err := d.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("json_decode: %w", err)
	}
	return v, nil
}

func coalesce(args ...any) (any, error) {
	for _, a := range args {
		if a != nil {
			return a, nil
		}
	}
	return nil, nil
}

// toInt64 converts a number to int64 (a float truncated toward zero).
func toInt64(v any) (int64, bool) {
	switch x := scalarOf(v).(type) {
	case int64:
		return x, true
	case float64:
		if math.IsNaN(x) || x >= math.MaxInt64 || x < math.MinInt64 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}
