package aggregate

import (
	"fmt"
	"math"
	"strings"

	"github.com/tidemark/tidemark/plugin"
)

// fn is an aggregate function.
type fn uint8

// The functions. Their names are the config's fn values.
const (
	fnCount fn = iota
	fnSum
	fnMin
	fnMax
	fnAvg
	fnCountDistinct
	fnFirst
	fnLast
)

var fnNames = []string{"count", "sum", "min", "max", "avg", "count_distinct", "first", "last"}

func (f fn) String() string { return fnNames[f] }

func parseFn(s string) (fn, bool) {
	for i, n := range fnNames {
		if n == s {
			return fn(i), true
		}
	}
	return 0, false
}

// retractable reports whether the function can take a value back (a
// non-windowed aggregate over an updating input).
func (f fn) retractable() bool { return f != fnFirst && f != fnLast }

// aggDef is one entry of aggregates.
type aggDef struct {
	name   string
	fn     fn
	expr   *plugin.Expr // nil: count counts records
	filter *plugin.Expr // nil: every record
}

// aggState is the accumulator of one function for one group (and window).
type aggState struct {
	// n counts the non-null inputs (count: the count; count_distinct: the
	// distinct values; min, max: the values, non-windowed).
	n int64
	// isum and fsum are the sums of the int and float inputs, nf counts
	// the float inputs (sum, avg).
	isum int64
	fsum float64
	nf   int64
	// val is min/max's extreme or first/last's value, set when has.
	val any
	has bool
	ts  int64 // first, last: val's timestamp
}

// acc holds the accumulators of a group (and window).
type acc struct {
	// rows counts the group's records (inserts minus retractions).
	rows int64
	// group holds the group_by values; groupRaw their encoding, as
	// stored (decoded into group only when a row is built).
	group    []any
	groupRaw []byte
	// fired: the window emitted its row (windowed).
	fired bool
	// sid names the window's count_distinct entries (the window it was
	// created as; a session keeps it when it grows).
	sid [2]int64
	// ts is the timestamp of the last record (non-windowed), access the
	// processing time (Unix ms) of the last change (non-windowed ttl).
	ts, access int64
	aggs       []aggState
}

func newAcc(n int) *acc { return &acc{aggs: make([]aggState, n)} }

// errType is a value a function cannot aggregate: the record goes to the
// dead letters.
type errType struct{ msg string }

func (e *errType) Error() string { return e.msg }

func typeErr(format string, args ...any) error { return &errType{msg: fmt.Sprintf(format, args...)} }

// kindOf names a value's type for messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case int64:
		return "an int"
	case float64:
		return "a float"
	case string:
		return "a string"
	case bool:
		return "a bool"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// normNumber turns every Go integer and float type into int64 or float64
// (expressions return those already; records may hold others).
func normNumber(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return float64(x)
	}
	return v
}

// check says whether v can be added to a (nil: a fresh accumulator).
func (d *aggDef) check(a *aggState, v any) error {
	if v == nil {
		return nil
	}
	switch d.fn {
	case fnSum, fnAvg:
		switch v.(type) {
		case int64, float64:
			return nil
		}
		return typeErr("aggregate %s: %s of %s: want a number", d.name, d.fn, kindOf(v))
	case fnMin, fnMax:
		switch v.(type) {
		case int64, float64:
			if a != nil && a.has {
				if _, ok := a.val.(string); ok {
					return typeErr("aggregate %s: %s of a number after strings: the inputs must be all numbers or all strings", d.name, d.fn)
				}
			}
			return nil
		case string:
			if a != nil && a.has {
				if _, ok := a.val.(string); !ok {
					return typeErr("aggregate %s: %s of a string after numbers: the inputs must be all numbers or all strings", d.name, d.fn)
				}
			}
			return nil
		}
		return typeErr("aggregate %s: %s of %s: want a number or a string", d.name, d.fn, kindOf(v))
	}
	return nil
}

// add adds v (checked) at timestamp ts. count_distinct is kept by the
// operator, in state.
func (d *aggDef) add(a *aggState, v any, ts int64) {
	if v == nil && (d.expr != nil || d.fn != fnCount) {
		return
	}
	switch d.fn {
	case fnCount:
		a.n++
	case fnSum, fnAvg:
		a.n++
		if i, ok := v.(int64); ok {
			a.isum += i
		} else {
			a.fsum += v.(float64)
			a.nf++
		}
	case fnMin, fnMax:
		a.n++
		if !a.has || better(d.fn, v, a.val) {
			a.val, a.has = v, true
		}
	case fnFirst:
		if !a.has || ts < a.ts {
			a.val, a.ts, a.has = v, ts, true
		}
	case fnLast:
		if !a.has || ts >= a.ts {
			a.val, a.ts, a.has = v, ts, true
		}
	}
}

// retract takes v back (count, sum, avg; the operator keeps min and max
// through value counts and count_distinct in state).
func (d *aggDef) retract(a *aggState, v any) {
	if v == nil && (d.expr != nil || d.fn != fnCount) {
		return
	}
	switch d.fn {
	case fnCount:
		a.n--
	case fnSum, fnAvg:
		a.n--
		if i, ok := v.(int64); ok {
			a.isum -= i
		} else {
			a.fsum -= v.(float64)
			a.nf--
		}
	}
}

// merge adds the accumulator o into a (session windows merging).
// count_distinct is merged by the operator.
func (d *aggDef) merge(a, o *aggState) {
	switch d.fn {
	case fnCount:
		a.n += o.n
	case fnSum, fnAvg:
		a.n += o.n
		a.isum += o.isum
		a.fsum += o.fsum
		a.nf += o.nf
	case fnMin, fnMax:
		a.n += o.n
		if o.has && (!a.has || better(d.fn, o.val, a.val)) {
			a.val, a.has = o.val, true
		}
	case fnFirst:
		if o.has && (!a.has || o.ts < a.ts) {
			a.val, a.ts, a.has = o.val, o.ts, true
		}
	case fnLast:
		if o.has && (!a.has || o.ts > a.ts) {
			a.val, a.ts, a.has = o.val, o.ts, true
		}
	}
}

// result is the function's value (nil: SQL null).
func (d *aggDef) result(a *aggState) any {
	switch d.fn {
	case fnCount, fnCountDistinct:
		return a.n
	case fnSum:
		switch {
		case a.n == 0:
			return nil
		case a.nf > 0:
			return float64(a.isum) + a.fsum
		}
		return a.isum
	case fnAvg:
		switch {
		case a.n == 0:
			return nil
		case a.nf > 0:
			return (float64(a.isum) + a.fsum) / float64(a.n)
		}
		return a.isum / a.n // truncated toward zero, as Flink's AVG(BIGINT)
	}
	if !a.has {
		return nil
	}
	return a.val
}

// better reports whether v beats cur for min (smaller) or max (larger).
// Both are numbers or both strings (checked).
func better(f fn, v, cur any) bool {
	c := compare(v, cur)
	if f == fnMin {
		return c < 0
	}
	return c > 0
}

// compare orders two numbers or two strings.
func compare(a, b any) int {
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case int64:
		if y, ok := b.(int64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
		return cmpFloat(float64(x), b.(float64))
	case float64:
		if y, ok := b.(int64); ok {
			return cmpFloat(x, float64(y))
		}
		return cmpFloat(x, b.(float64))
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
