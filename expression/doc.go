// Package expression compiles and evaluates the expressions of a job's
// configuration (filter conditions, computed fields, keys, event times),
// with github.com/expr-lang/expr behind it (design §5).
//
// An expression is compiled once, when the job starts (Compile), for a
// Context that says which names it may use; unknown names, syntax errors
// and type errors the checker can see are compile errors with the
// expression's line and column (*Error). Evaluating it (Program.Eval)
// costs no compilation and, for most expressions, a few allocations: an Env
// holds the evaluator and the names of the record being evaluated, and is
// reused from record to record by the goroutine that owns it.
//
// # Names
//
//	value      the record's decoded value: map[string]any, []any, string,
//	           int64, float64, bool or nil (a record never decoded: its
//	           bytes as a string)
//	key        the record key, a string
//	headers    the record's headers, name → string (the last of equal
//	           names wins); a missing header is null
//	timestamp  the record's event time, ms since the epoch (int)
//	topic, partition, offset
//	           where a source record was read ("", -1, -1 for records
//	           operators made)
//	window     {start, end} in ms of the record's window, nil without one
//	left, right  the two rows of a join (JoinContext only)
//	item, index  the element of a flat_map and its position (ItemContext)
//
// Fields of a JSON object are read with `.` or `[]`: value.price,
// value["dateTime"], and value?.bid?.price or value.x ?? 0 for optional
// ones. Integers are int64 and floats float64; `/` always divides as
// floats (int(a / b) truncates).
//
// # Functions
//
// All of expr's built-in functions (len, upper, split, map, filter, …)
// except now(), since an expression's result must not change when a
// checkpoint is replayed, and these:
//
//	format_time(ms, layout)  ms since the epoch as text in UTC; layout is
//	                         "sql" (2006-01-02 15:04:05.000), "date"
//	                         (2006-01-02), "rfc3339"
//	                         (2006-01-02T15:04:05.000Z07:00), "epoch_millis"
//	                         or a Go time layout
//	parse_time(s, layout)    text to ms since the epoch; layouts as
//	                         format_time, plus "auto" (RFC 3339, else sql);
//	                         "sql" takes 0 to 9 fraction digits, UTC
//	round_to(x, n)           x rounded to n decimals, half away from zero,
//	                         as x reads in decimal (round_to(1.005, 2) is
//	                         1.01); n < 0 rounds to tens, hundreds, …
//	json_encode(x)           x as JSON text, object fields sorted
//	json_decode(s)           JSON text to a value
//	coalesce(a, b, …)        the first argument that is not null
//
// format_time, parse_time and round_to return null for a null first
// argument.
//
// # Results
//
// Eval returns int64 for every integer (expr computes in int) and float64
// for every float; lists and maps an expression builds are normalised the
// same way, values read from the record are returned as they are.
// EvalBool requires a bool. AppendKey turns a result into record key
// bytes by the rules of design §2.2.
//
// Every error of Eval is an *Error with the position in the expression
// where evaluation failed: it becomes the reason of a dead letter.
package expression
