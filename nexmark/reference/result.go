package reference

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/tidemark/tidemark/nexmark"
)

// Mode is how a query's sink writes.
type Mode int

const (
	// Append: every output row is one Kafka record; the result is the
	// multiset of rows.
	Append Mode = iota
	// Upsert: the Kafka key is the row's key, a later record replaces an
	// earlier one, a tombstone deletes; the result is the final row per key.
	Upsert
)

func (m Mode) String() string {
	if m == Upsert {
		return "upsert"
	}
	return "append"
}

// ColumnKind is the JSON type of a column.
type ColumnKind int

const (
	// Int columns hold int64 values, written as JSON integers.
	Int ColumnKind = iota
	// String columns hold strings (timestamps are strings in
	// nexmark.SQLTimeLayout).
	String
	// Decimal columns hold Decimal values: a JSON number equal to the value
	// (q1's price, DECIMAL(23,3)).
	Decimal
)

// Column is one output field.
type Column struct {
	Name string
	Kind ColumnKind
}

// DecimalValue is an exact decimal with three fraction digits, in
// thousandths: DecimalValue(17134960) is 17134.960.
type DecimalValue int64

func (d DecimalValue) String() string {
	neg := d < 0
	if neg {
		d = -d
	}
	s := strconv.FormatInt(int64(d)/1000, 10) + "." + strconv.FormatInt(1000+int64(d)%1000, 10)[1:]
	if neg {
		s = "-" + s
	}
	return s
}

// Row is one output row: the values in the Result's Columns order, int64
// for Int, string for String, DecimalValue for Decimal.
type Row []any

// Final is the expected final row of one key of an updating query.
type Final struct {
	// Key holds the values of the Result's KeyColumns.
	Key []any
	// Rows are the acceptable final rows: exactly one when the input
	// determines it; several when ties leave the choice to the arrival
	// order across partitions (q18, q19), any one of them (Check adds the
	// constraints between keys).
	Rows []Row
}

// Result is what a query must output for an Input.
type Result struct {
	// Query is the query's name, "q0" … "q19".
	Query string
	// Mode is Append or Upsert.
	Mode Mode
	// Columns are the output fields, in the order the sink writes them.
	Columns []Column
	// KeyColumns name the columns forming the upsert key, in key order
	// (Upsert only).
	KeyColumns []string
	// Rows is the multiset of output rows of an Append query, sorted by
	// FormatRow.
	Rows []Row
	// Final holds one entry per key of an Upsert query, sorted by key.
	Final []Final

	// ties are q19's tie groups (checked beyond Final's candidates).
	ties []tieGroup
}

// tieGroup is a run of ranks [first, first+slots) of one auction holding
// bids of equal price; byPartition lists those bids (their bid columns, no
// rank) per partition in arrival order.
type tieGroup struct {
	auction     int64
	first       int64
	slots       int
	byPartition [][]Row
}

// FormatRow renders a row as the JSON object the sink writes, fields in
// column order (decimals with three fraction digits).
func (r *Result) FormatRow(row Row) string {
	return formatRow(r.Columns, row)
}

func formatRow(cols []Column, row Row) string {
	return string(appendRow(nil, cols, row))
}

func appendRow(b []byte, cols []Column, row Row) []byte {
	b = append(b, '{')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = nexmark.AppendString(b, c.Name)
		b = append(b, ':')
		switch v := row[i].(type) {
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case string:
			b = nexmark.AppendString(b, v)
		case DecimalValue:
			b = append(b, v.String()...)
		default:
			panic("reference: row value of unexpected type")
		}
	}
	return append(b, '}')
}

// EncodeKey is the Kafka key of an upsert row per the design (§2.2): a
// single string as is, a single integer in decimal, several values as the
// JSON array text ([2001,1000]).
func EncodeKey(key []any) []byte {
	if len(key) == 1 {
		switch v := key[0].(type) {
		case string:
			return []byte(v)
		case int64:
			return strconv.AppendInt(nil, v, 10)
		}
	}
	b, err := json.Marshal(key)
	if err != nil {
		panic("reference: key not encodable: " + err.Error())
	}
	return b
}

// Lines renders the result one line per row, for reading and for tests:
// Append rows in order; Upsert `KEY => ROW`, alternatives joined by " | ".
func (r *Result) Lines() []string {
	var out []string
	if r.Mode == Append {
		for _, row := range r.Rows {
			out = append(out, r.FormatRow(row))
		}
		return out
	}
	for _, f := range r.Final {
		alts := make([]string, len(f.Rows))
		for i, row := range f.Rows {
			alts[i] = r.FormatRow(row)
		}
		out = append(out, string(EncodeKey(f.Key))+" => "+strings.Join(alts, " | "))
	}
	return out
}

// String is Lines joined by newlines.
func (r *Result) String() string {
	return strings.Join(r.Lines(), "\n")
}

// sortRows sorts Rows (the canonical multiset order: column by column,
// numbers by value, strings bytewise).
func (r *Result) sortRows() {
	slices.SortFunc(r.Rows, compareRows)
}

func compareRows(a, b Row) int {
	for i := range a {
		var c int
		switch x := a[i].(type) {
		case int64:
			c = cmp.Compare(x, b[i].(int64))
		case string:
			c = strings.Compare(x, b[i].(string))
		case DecimalValue:
			c = cmp.Compare(x, b[i].(DecimalValue))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// sortFinal sorts Final by key (as rows are sorted).
func (r *Result) sortFinal() {
	slices.SortFunc(r.Final, func(a, b Final) int { return compareRows(a.Key, b.Key) })
}

// keyIndexes are the positions of KeyColumns in Columns.
func (r *Result) keyIndexes() []int {
	idx := make([]int, len(r.KeyColumns))
	for i, k := range r.KeyColumns {
		idx[i] = slices.IndexFunc(r.Columns, func(c Column) bool { return c.Name == k })
	}
	return idx
}
