package reference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Record is one record of a query's output topic.
type Record struct {
	Key []byte
	// Value is the JSON row; nil is a tombstone (a delete of Key).
	Value []byte
}

// ErrMismatch marks an output that differs from the reference.
var ErrMismatch = errors.New("reference: output differs")

// maxReported is how many differing rows Check names.
const maxReported = 5

// Check compares a query's committed output with the result. records are
// the output topic's records, each partition's in offset order (partitions
// may follow each other in any order: a key lives in one partition).
//
// Every value must be a JSON object with exactly the Columns: Int columns
// integers, String columns strings, Decimal columns numbers equal to the
// decimal (17134.96 matches 17134.960). Append: the multiset of rows must
// equal Rows. Upsert: after applying the records in order (a tombstone
// deletes its key), the keys must be exactly Final's, each Kafka key must be
// EncodeKey of its row's KeyColumns, each row one of its Final.Rows, and
// (q19) each run of tied ranks must hold, per partition, a prefix of that
// partition's tied bids in order. The error wraps ErrMismatch and names up
// to five differing rows each way.
func (r *Result) Check(records []Record) error {
	if r.Mode == Append {
		return r.checkAppend(records)
	}
	return r.checkUpsert(records)
}

func (r *Result) checkAppend(records []Record) error {
	var buf []byte
	want := make(map[uint64]int, len(r.Rows))
	for _, row := range r.Rows {
		buf = appendRow(buf[:0], r.Columns, row)
		want[xxhash.Sum64(buf)]++
	}
	var unexpected []string
	nUnexpected := 0
	for i, rec := range records {
		row, err := r.decodeRow(rec.Value)
		if err != nil {
			return fmt.Errorf("%w: %s: record %d: %w", ErrMismatch, r.Query, i, err)
		}
		buf = appendRow(buf[:0], r.Columns, row)
		h := xxhash.Sum64(buf)
		if want[h] > 0 {
			want[h]--
			continue
		}
		nUnexpected++
		if len(unexpected) < maxReported {
			unexpected = append(unexpected, string(buf))
		}
	}
	var missing []string
	nMissing := 0
	for _, row := range r.Rows {
		buf = appendRow(buf[:0], r.Columns, row)
		h := xxhash.Sum64(buf)
		if want[h] > 0 {
			want[h]--
			nMissing++
			if len(missing) < maxReported {
				missing = append(missing, string(buf))
			}
		}
	}
	if nMissing == 0 && nUnexpected == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: %d rows expected, %d written; %d missing%s; %d unexpected%s",
		ErrMismatch, r.Query, len(r.Rows), len(records), nMissing, list(missing), nUnexpected, list(unexpected))
}

func list(rows []string) string {
	if len(rows) == 0 {
		return ""
	}
	return ": " + strings.Join(rows, ", ")
}

func (r *Result) checkUpsert(records []Record) error {
	final := map[string][]byte{}
	for _, rec := range records {
		if rec.Value == nil {
			delete(final, string(rec.Key))
		} else {
			final[string(rec.Key)] = rec.Value
		}
	}
	keyIdx := r.keyIndexes()
	got := make(map[string]Row, len(final))
	var problems []string
	problem := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	for k, v := range final {
		row, err := r.decodeRow(v)
		if err != nil {
			problem("key %q: %v", k, err)
			continue
		}
		key := make([]any, len(keyIdx))
		for i, j := range keyIdx {
			key[i] = row[j]
		}
		if enc := string(EncodeKey(key)); enc != k {
			problem("key %q holds the row of key %q: %s", k, enc, r.FormatRow(row))
			continue
		}
		got[k] = row
	}
	var missing, unexpected []string
	want := make(map[string]bool, len(r.Final))
	for _, f := range r.Final {
		k := string(EncodeKey(f.Key))
		want[k] = true
		row, ok := got[k]
		if !ok {
			missing = append(missing, k)
			continue
		}
		s := r.FormatRow(row)
		if !slices.ContainsFunc(f.Rows, func(w Row) bool { return r.FormatRow(w) == s }) {
			alts := make([]string, len(f.Rows))
			for i, w := range f.Rows {
				alts[i] = r.FormatRow(w)
			}
			problem("key %s: got %s, want %s", k, s, strings.Join(alts, " or "))
		}
	}
	for k := range got {
		if !want[k] {
			unexpected = append(unexpected, k)
		}
	}
	for _, g := range r.ties {
		if err := r.checkTies(g, got); err != nil {
			problem("%v", err)
		}
	}
	if len(problems) == 0 && len(missing) == 0 && len(unexpected) == 0 {
		return nil
	}
	slices.Sort(missing)
	slices.Sort(unexpected)
	slices.Sort(problems)
	return fmt.Errorf("%w: %s: %d keys expected, %d present; %d missing%s; %d unexpected%s; %d wrong%s",
		ErrMismatch, r.Query, len(r.Final), len(final), len(missing), list(head(missing)),
		len(unexpected), list(head(unexpected)), len(problems), list(head(problems)))
}

func head(s []string) []string {
	return s[:min(len(s), maxReported)]
}

// checkTies checks that the rows at a run of tied ranks take, per
// partition, the first bids of that partition's tied bids in order (some
// interleaving of the partitions' arrival orders), no bid twice.
func (r *Result) checkTies(g tieGroup, got map[string]Row) error {
	bidCols := r.Columns[:len(r.Columns)-1] // without rank_number
	seq := make([]string, g.slots)
	for j := range g.slots {
		row, ok := got[string(EncodeKey([]any{g.auction, g.first + int64(j)}))]
		if !ok {
			return nil // reported as missing
		}
		seq[j] = formatRow(bidCols, row[:len(row)-1])
	}
	lists := make([][]string, len(g.byPartition))
	for p, rows := range g.byPartition {
		for _, row := range rows {
			lists[p] = append(lists[p], formatRow(bidCols, row))
		}
	}
	pos := make([]int, len(lists))
	var fits func(j int) bool
	fits = func(j int) bool {
		if j == len(seq) {
			return true
		}
		for p, l := range lists {
			if pos[p] < len(l) && l[pos[p]] == seq[j] {
				pos[p]++
				if fits(j + 1) {
					return true
				}
				pos[p]--
			}
		}
		return false
	}
	if fits(0) {
		return nil
	}
	return fmt.Errorf("auction %d ranks %d–%d (price %d): the tied bids are not in an arrival order the partitions allow: %s",
		g.auction, g.first, g.first+int64(g.slots)-1, g.byPartition[firstNonEmpty(g.byPartition)][0][2], strings.Join(seq, ", "))
}

func firstNonEmpty(lists [][]Row) int {
	for i, l := range lists {
		if len(l) > 0 {
			return i
		}
	}
	return 0
}

// decodeRow reads a JSON row of the result's columns (encoding/json,
// independent of the processor's codec).
func (r *Result) decodeRow(value []byte) (Row, error) {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("value %q is not a JSON object: %w", value, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("value %q: data after the object", value)
	}
	if len(m) != len(r.Columns) {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("value %s: fields %v, want %v", value, names, r.columnNames())
	}
	row := make(Row, len(r.Columns))
	for i, c := range r.Columns {
		v, ok := m[c.Name]
		if !ok {
			return nil, fmt.Errorf("value %s: no field %q", value, c.Name)
		}
		var err error
		row[i], err = convert(c, v)
		if err != nil {
			return nil, fmt.Errorf("value %s: %w", value, err)
		}
	}
	return row, nil
}

func (r *Result) columnNames() []string {
	out := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		out[i] = c.Name
	}
	slices.Sort(out)
	return out
}

var thousand = big.NewRat(1000, 1)

func convert(c Column, v any) (any, error) {
	switch c.Kind {
	case String:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("field %q = %v: want a string", c.Name, v)
	case Int:
		if n, ok := v.(json.Number); ok {
			if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
				return i, nil
			}
		}
		return nil, fmt.Errorf("field %q = %v: want an integer", c.Name, v)
	default:
		if n, ok := v.(json.Number); ok {
			if q, ok := new(big.Rat).SetString(string(n)); ok {
				q.Mul(q, thousand)
				if q.IsInt() && q.Num().IsInt64() {
					return DecimalValue(q.Num().Int64()), nil
				}
			}
		}
		return nil, fmt.Errorf("field %q = %v: want a number with at most 3 fraction digits", c.Name, v)
	}
}
