package optest

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/tidemark/tidemark/operators"
)

// Run runs the script at path, a file or a directory of them (each its
// own subtest, on a fresh harness), against operators made by newOp.
// See the package doc for the commands. go test -rewrite rewrites the
// expected outputs from what the operator does.
func Run(t *testing.T, path string, newOp func() operators.Operator, opts ...Option) {
	t.Helper()
	datadriven.Walk(t, path, func(t *testing.T, path string) {
		h := New(t, newOp, opts...)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.Exec(t, d)
		})
	})
}

// RunString runs a script given as text.
func RunString(t *testing.T, script string, newOp func() operators.Operator, opts ...Option) {
	t.Helper()
	h := New(t, newOp, opts...)
	datadriven.RunTestFromString(t, script, func(t *testing.T, d *datadriven.TestData) string {
		return h.Exec(t, d)
	})
}

// Exec runs one script command and returns its output.
func (h *Harness) Exec(t testing.TB, d *datadriven.TestData) string {
	t.Helper()
	var (
		out   []Output
		err   error
		lines []string
	)
	switch d.Cmd {
	case "process":
		input := 0
		if arg, ok := d.Arg("input"); ok {
			if input, err = h.Input(arg.SingleVal(t)); err != nil {
				d.Fatalf(t, "%v", err)
			}
		}
		var recs []operators.Record
		for i, line := range strings.Split(d.Input, "\n") {
			if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			r, perr := ParseRecord(line)
			if perr == nil && h.cfg.lazy && r.Data != nil {
				perr = makeLazy(&r)
			}
			if perr != nil {
				d.Fatalf(t, "input line %d: %v", i+1, perr)
			}
			recs = append(recs, r)
		}
		if arg, ok := d.Arg("batch"); ok {
			n, aerr := strconv.Atoi(arg.SingleVal(t))
			if aerr != nil || n < 1 {
				d.Fatalf(t, "batch=%s: want a positive number of records per Process call", arg.SingleVal(t))
			}
			for len(recs) > 0 && err == nil {
				b := recs[:min(n, len(recs))]
				recs = recs[len(b):]
				var o []Output
				o, err = h.Process(input, b)
				out = append(out, o...)
			}
		} else {
			out, err = h.Process(input, recs)
		}
	case "watermark":
		wm, perr := strconv.ParseInt(firstKey(t, d), 10, 64)
		if perr != nil {
			d.Fatalf(t, "watermark %s: want ms", firstKey(t, d))
		}
		out, err = h.AdvanceWatermark(wm)
	case "time":
		arg := firstKey(t, d)
		var now time.Time
		if dur, ok := strings.CutPrefix(arg, "+"); ok {
			step, perr := time.ParseDuration(dur)
			if perr != nil {
				d.Fatalf(t, "time %s: want +DURATION or an RFC 3339 time", arg)
			}
			now = h.now.Add(step)
		} else {
			var perr error
			if now, perr = time.Parse(time.RFC3339Nano, arg); perr != nil {
				d.Fatalf(t, "time %s: want +DURATION or an RFC 3339 time", arg)
			}
		}
		out, err = h.SetTime(now)
		lines = append(lines, "time "+h.now.UTC().Format(time.RFC3339Nano))
	case "checkpoint":
		var id int64
		id, out, err = h.Checkpoint()
		if err == nil {
			lines = append(lines, fmt.Sprintf("checkpoint %d", id))
		}
	case "complete":
		id := h.lastID
		if len(d.CmdArgs) > 0 {
			var perr error
			if id, perr = strconv.ParseInt(firstKey(t, d), 10, 64); perr != nil {
				d.Fatalf(t, "complete %s: want a checkpoint id", firstKey(t, d))
			}
		}
		out, err = h.Complete(id)
		if err == nil {
			lines = append(lines, fmt.Sprintf("completed %d", id))
		}
	case "restore":
		id := h.lastID
		if len(d.CmdArgs) > 0 {
			var perr error
			if id, perr = strconv.ParseInt(firstKey(t, d), 10, 64); perr != nil {
				d.Fatalf(t, "restore %s: want a checkpoint id", firstKey(t, d))
			}
		}
		if err = h.Restore(id); err == nil {
			lines = append(lines, fmt.Sprintf("restored checkpoint %d into a fresh state directory", id))
		}
	case "state":
		lines, err = h.StateLines()
		if err != nil {
			d.Fatalf(t, "state: %v", err)
		}
	default:
		d.Fatalf(t, "unknown command %q (process, watermark, time, checkpoint, complete, restore, state)", d.Cmd)
	}
	outLines := make([]string, 0, len(out))
	for _, o := range out {
		outLines = append(outLines, h.formatOutput(o))
	}
	if d.HasArg("sort") {
		slices.Sort(outLines)
	}
	lines = append(lines, outLines...)
	if err != nil {
		lines = append(lines, "error: "+err.Error())
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// firstKey returns the first argument of a command (`watermark 1999`).
func firstKey(t testing.TB, d *datadriven.TestData) string {
	t.Helper()
	if len(d.CmdArgs) == 0 {
		d.Fatalf(t, "%s: missing argument", d.Cmd)
	}
	a := d.CmdArgs[0]
	if len(a.Vals) > 0 {
		return a.String()
	}
	return a.Key
}

// StateLines lists what the operator holds in the state backend, one line
// per entry in key order: `value NAME key=K`, `map NAME key=K mapkey=HEX`,
// `list NAME key=K` and `timer event|processing TS key=K`. Values are not
// shown: outputs show what they hold; this shows what is left over.
func (h *Harness) StateLines() ([]string, error) {
	var lines []string
	err := h.backend.Iterate(func(k, _ []byte) error {
		if len(k) < 2 || k[0] == 0xff {
			return nil // the backend's own keys
		}
		rest := k[2:]
		op, rest, ok := lenPrefixed(rest)
		if !ok || len(rest) == 0 {
			return fmt.Errorf("unreadable state key %x", k)
		}
		if string(op) != h.cfg.name {
			return nil
		}
		ns, rest := rest[0], rest[1:]
		if ns == 't' {
			if len(rest) < 9 {
				return fmt.Errorf("unreadable timer key %x", k)
			}
			kind := map[byte]string{'e': "event", 'p': "processing"}[rest[0]]
			ts := int64(binary.BigEndian.Uint64(rest[1:9]) ^ (1 << 63))
			lines = append(lines, fmt.Sprintf("timer %s %d key=%s", kind, ts, quote(string(rest[9:]))))
			return nil
		}
		name, rest, ok := lenPrefixed(rest)
		if !ok {
			return fmt.Errorf("unreadable state key %x", k)
		}
		key, rest, ok := lenPrefixed(rest)
		if !ok {
			return fmt.Errorf("unreadable state key %x", k)
		}
		switch ns {
		case 'v':
			lines = append(lines, fmt.Sprintf("value %s key=%s", name, quote(string(key))))
		case 'm':
			lines = append(lines, fmt.Sprintf("map %s key=%s mapkey=%x", name, quote(string(key)), rest))
		case 'l':
			lines = append(lines, fmt.Sprintf("list %s key=%s", name, quote(string(key))))
		default:
			return fmt.Errorf("state key %x of unknown namespace %q", k, ns)
		}
		return nil
	})
	if len(lines) == 0 && err == nil {
		lines = []string{"(empty)"}
	}
	return lines, err
}

func lenPrefixed(b []byte) (val, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}
