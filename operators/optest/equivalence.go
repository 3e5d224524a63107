package optest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/tidemark/tidemark/operators"
)

// RunRestoreEquivalence checks that a restore changes nothing an operator
// emits (the restore equivalence every stateful operator must show). For
// the script at path (a file or a directory of them) it runs the script's
// process, watermark and time commands once straight through, then once
// for every point between two of them with a checkpoint and a restore
// into a fresh directory at that point; every run must emit the same. It
// compares the output streams line for line, or, for an
// operators.SnapshotEmitter (which emits at checkpoints), the rows they
// leave (+I and +U add a row, -U and -D take one away) after a last
// checkpoint at the end of each run. The script's own
// checkpoint, complete, restore and state commands are left out, and so
// are watermarks not ahead of an earlier one; its expected outputs are
// not checked (Run does that).
func RunRestoreEquivalence(t *testing.T, path string, newOp func() operators.Operator, opts ...Option) {
	t.Helper()
	datadriven.Walk(t, path, func(t *testing.T, path string) {
		var cmds []datadriven.TestData
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "process", "watermark", "time":
				cmds = append(cmds, *d)
			}
			return d.Expected
		})
		checkEquivalence(t, cmds, newOp, opts)
	})
}

func checkEquivalence(t testing.TB, cmds []datadriven.TestData, newOp func() operators.Operator, opts []Option) {
	t.Helper()
	run := func(t testing.TB, cut int) (stream []string, materialize bool) {
		h := New(t, newOp, opts...)
		defer h.Close()
		_, materialize = h.op.(operators.SnapshotEmitter)
		scriptWM := int64(math.MinInt64) // the script's, across restores
		for i := range cmds {
			if i == cut {
				_, out, err := h.Checkpoint()
				if err != nil {
					t.Fatalf("checkpoint before command %d (%s): %v", i+1, cmds[i].Pos, err)
				}
				for _, o := range out {
					stream = append(stream, h.formatOutput(o))
				}
				if err := h.Restore(h.LastCheckpoint()); err != nil {
					t.Fatal(err)
				}
			}
			d := cmds[i]
			if d.Cmd == "watermark" && len(d.CmdArgs) > 0 {
				// A watermark not ahead is a script's check of the
				// harness, not the operator's behaviour: left out (after a
				// restore the harness would pass it on).
				wm, err := strconv.ParseInt(d.CmdArgs[0].Key, 10, 64)
				if err == nil && wm <= scriptWM {
					continue
				}
				scriptWM = max(scriptWM, wm)
			}
			if s := strings.TrimSuffix(h.Exec(t, &d), "\n"); s != "" {
				stream = append(stream, strings.Split(s, "\n")...)
			}
		}
		if materialize {
			// What a SnapshotEmitter holds back until the next checkpoint
			// belongs to the rows it leaves: a last checkpoint flushes it.
			_, out, err := h.Checkpoint()
			if err != nil {
				t.Fatalf("checkpoint after the last command: %v", err)
			}
			for _, o := range out {
				stream = append(stream, h.formatOutput(o))
			}
		}
		return stream, materialize
	}
	want, materialize := run(t, -1)
	for cut := 1; cut < len(cmds); cut++ {
		got, _ := run(t, cut)
		if materialize {
			want, got := rows(want), rows(got)
			if !slices.Equal(want, got) {
				t.Errorf("checkpoint and restore before %s (%s) leave other rows than an uninterrupted run:\n%s",
					cmds[cut].Pos, cmds[cut].Cmd, diff(want, got))
			}
			continue
		}
		if !slices.Equal(want, got) {
			t.Errorf("checkpoint and restore before %s (%s) change the output of an uninterrupted run:\n%s",
				cmds[cut].Pos, cmds[cut].Cmd, diff(want, got))
		}
	}
}

// rows applies a changelog of output lines: the rows left, sorted.
func rows(lines []string) []string {
	count := map[string]int{}
	for _, l := range lines {
		prefix := ""
		rest := l
		if strings.HasPrefix(rest, "port=") {
			p, r, _ := strings.Cut(rest, " ")
			prefix, rest = p+" ", r
		}
		kind, row, ok := strings.Cut(rest, " ")
		if k, err := operators.ParseKind(kind); ok && err == nil {
			if k.Retracts() {
				count[prefix+row]--
			} else {
				count[prefix+row]++
			}
			continue
		}
		count[l]++
	}
	var out []string
	for row, n := range count {
		for range n {
			out = append(out, row)
		}
		for ; n < 0; n++ {
			out = append(out, "(retracted, never added) "+row)
		}
	}
	slices.Sort(out)
	return out
}

// diff lists the lines only one side has.
func diff(want, got []string) string {
	var b strings.Builder
	w := map[string]int{}
	for _, l := range want {
		w[l]++
	}
	for _, l := range got {
		w[l]--
	}
	for _, l := range want {
		if w[l] > 0 {
			fmt.Fprintf(&b, "  only uninterrupted: %s\n", l)
			w[l]--
		}
	}
	for _, l := range got {
		if w[l] < 0 {
			fmt.Fprintf(&b, "  only restored:      %s\n", l)
			w[l]++
		}
	}
	if b.Len() == 0 {
		b.WriteString("  the same lines in another order:\n")
		for i := range max(len(want), len(got)) {
			var a, c string
			if i < len(want) {
				a = want[i]
			}
			if i < len(got) {
				c = got[i]
			}
			fmt.Fprintf(&b, "  %-60s | %s\n", a, c)
		}
	}
	return b.String()
}
