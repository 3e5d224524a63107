package benchfmt

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// Table prints rows as aligned text, or as a Markdown table whose columns
// after the second are right-aligned.
type Table struct {
	w  io.Writer
	md bool
	tw *tabwriter.Writer
}

// NewTable prints a blank line, title and the header row.
func NewTable(w io.Writer, md bool, title string, header ...string) *Table {
	t := &Table{w: w, md: md}
	fmt.Fprintln(w)
	if md {
		fmt.Fprintf(w, "%s\n\n", title)
		t.Row(header...)
		sep := make([]string, len(header))
		for i := range sep {
			sep[i] = "---"
			if i >= 2 {
				sep[i] = "---:"
			}
		}
		t.Row(sep...)
		return t
	}
	fmt.Fprintf(w, "%s\n", title)
	t.tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	t.Row(header...)
	return t
}

// Row prints one row.
func (t *Table) Row(cells ...string) {
	if t.md {
		fmt.Fprintf(t.w, "| %s |\n", strings.Join(cells, " | "))
		return
	}
	fmt.Fprintf(t.tw, "%s\t\n", strings.Join(cells, "\t"))
}

// Flush writes out aligned text; call it after the last row.
func (t *Table) Flush() {
	if t.tw != nil {
		_ = t.tw.Flush()
	}
}

// Pct is the nearest-rank p-th percentile of xs (0 for none).
func Pct[T ~int64](xs []T, p float64) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}
