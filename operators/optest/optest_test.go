package optest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/builtin"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/operators/state"
)

func TestCount(t *testing.T) {
	optest.Run(t, "testdata/count.txt", func() operators.Operator { return &builtin.Count{} })
}

// tumble is a small windowed operator that exercises every step of the
// harness: it counts the records of each key per tumbling window of 10 s
// of event time in map state, with an event-time timer per window, and
// emits a window's count when the watermark passes its end. Records of a
// window that has fired go to side output 1 (late); records from input 1
// take a record back; a value that is not an object is rejected. Before
// each snapshot it emits how many records it saw since the last one (kept
// in memory only: a restore forgets it). Processing time is logged.
type tumble struct {
	operators.Base
	counts *state.Map[int64, int64]
	timers *state.Timers
	reject func(operators.Record, error)
	wm     int64
	seen   int64
	// persistWatermark keeps the watermark in state, so a restore brings
	// it back; without it a restored tumble has none until the next.
	persistWatermark bool
	wmState          *state.Value[int64]
	// announce makes BeforeSnapshot emit a record saying how many records
	// came since the last snapshot.
	announce bool
	ticks    []time.Time
}

const size = 10000

func (w *tumble) Open(_ context.Context, oc operators.OpenContext) error {
	w.counts = state.NewMap(oc.State, oc.Name, "counts", state.Int64{}, state.Int64{})
	w.timers = state.NewTimers(oc.State, oc.Name)
	w.reject = oc.Reject
	w.wm = -1 << 63
	if w.persistWatermark {
		w.wmState = state.NewValue(oc.State, oc.Name, "watermark", state.Int64{})
		if wm, ok, err := w.wmState.Get(nil); err != nil {
			return err
		} else if ok {
			w.wm = wm
		}
	}
	return nil
}

func (w *tumble) Process(ctx context.Context, recs []operators.Record, out operators.Collector) error {
	return w.ProcessInput(ctx, 0, recs, out)
}

func (w *tumble) ProcessInput(_ context.Context, input int, recs []operators.Record, out operators.Collector) error {
	delta := int64(1)
	if input == 1 {
		delta = -1
	}
	for _, r := range recs {
		if _, ok := r.Data.(map[string]any); !ok {
			w.reject(r, fmt.Errorf("value is not an object"))
			continue
		}
		w.seen++
		start := r.Timestamp - r.Timestamp%size
		if start+size-1 <= w.wm {
			out.(operators.PortCollector).EmitTo(1, r)
			continue
		}
		n, ok, err := w.counts.Get(r.Key, start)
		if err != nil {
			return err
		}
		if !ok {
			if err := w.timers.Register(state.EventTime, start+size-1, r.Key); err != nil {
				return err
			}
		}
		if err := w.counts.Put(r.Key, start, n+delta); err != nil {
			return err
		}
	}
	return nil
}

func (w *tumble) OnWatermark(_ context.Context, wm int64, out operators.Collector) error {
	w.wm = wm
	if w.persistWatermark {
		if err := w.wmState.Put(nil, wm); err != nil {
			return err
		}
	}
	return w.timers.Fire(state.EventTime, wm, func(ts int64, key []byte) error {
		start := ts + 1 - size
		n, _, err := w.counts.Get(key, start)
		if err != nil {
			return err
		}
		out.Emit(operators.Record{Key: key, Timestamp: ts, WindowStart: start, WindowEnd: start + size,
			Data: map[string]any{"count": n}})
		return w.counts.Delete(key, start)
	})
}

func (w *tumble) BeforeSnapshot(_ context.Context, id int64, out operators.Collector) error {
	if !w.announce {
		return nil
	}
	out.Emit(operators.Record{Key: []byte("_seen"), Data: map[string]any{"checkpoint": id, "seen": w.seen}})
	w.seen = 0
	return nil
}

func (w *tumble) OnProcessingTime(_ context.Context, now time.Time, _ operators.Collector) error {
	w.ticks = append(w.ticks, now)
	return nil
}

var (
	_ operators.MultiInput      = (*tumble)(nil)
	_ operators.SnapshotEmitter = (*tumble)(nil)
	_ operators.ProcessingTimer = (*tumble)(nil)
)

func TestTumble(t *testing.T) {
	optest.Run(t, "testdata/tumble.txt", func() operators.Operator { return &tumble{announce: true} },
		optest.Name("counts"), optest.Inputs("add", "retract"), optest.Outputs("late"))
}

// The Go API: the same steps as a script, and the restore hands a new
// operator the checkpoint's id.
func TestHarnessAPI(t *testing.T) {
	var made []*tumble
	h := optest.New(t, func() operators.Operator { w := &tumble{announce: true}; made = append(made, w); return w }, optest.Name("w"))
	rec := func(line string) operators.Record {
		r, err := optest.ParseRecord(line)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if out, err := h.Process(0, []operators.Record{rec(`key=a ts=1 {}`), rec(`key=a ts=2 {}`)}); err != nil || len(out) != 0 {
		t.Fatalf("Process = %v, %v", out, err)
	}
	id, out, err := h.Checkpoint()
	if err != nil || id != 1 || len(out) != 1 || out[0].Record.Data.(map[string]any)["seen"] != int64(2) {
		t.Fatalf("Checkpoint = %d, %v, %v", id, out, err)
	}
	if err := h.Restore(1); err != nil {
		t.Fatal(err)
	}
	if len(made) != 2 || h.Operator() != made[1] {
		t.Fatalf("Restore did not open a new operator: %d made", len(made))
	}
	if h.Watermark() != -1<<63 {
		t.Errorf("watermark after restore = %d", h.Watermark())
	}
	out, err = h.AdvanceWatermark(9999)
	if err != nil || len(out) != 1 || optest.FormatRecord(out[0].Record) != `+I key=a ts=9999 window=[0,10000) {"count":2}` {
		t.Fatalf("AdvanceWatermark = %+v, %v", out, err)
	}
	if _, err := h.AdvanceWatermark(9999); !errors.Is(err, optest.ErrWatermarkNotAhead) {
		t.Errorf("repeated watermark: %v", err)
	}
	start := h.Now()
	if _, err := h.SetTime(start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := made[1].ticks; len(got) != 1 || !got[0].Equal(start.Add(time.Minute)) {
		t.Errorf("OnProcessingTime calls: %v", got)
	}
	if _, err := h.SetTime(start); err == nil {
		t.Error("processing time went back")
	}
	if err := h.Restore(7); err == nil || !strings.Contains(err.Error(), "no checkpoint 7") {
		t.Errorf("Restore(7) = %v", err)
	}

	// A one-input operator has no input 1.
	c := optest.New(t, func() operators.Operator { return &builtin.Count{} })
	if _, err := c.Process(1, []operators.Record{{Key: []byte("k")}}); err == nil || !strings.Contains(err.Error(), "MultiInput") {
		t.Errorf("Count input 1: %v", err)
	}
	if _, err := c.Input("nope"); err == nil {
		t.Error("unknown input name accepted")
	}
}

func TestRecordLines(t *testing.T) {
	for _, line := range []string{
		`+I ts=0 null`,
		`+I key=a ts=5 {"a":1,"b":[2.5,"x",null]}`,
		`-U key="a b" ts=-7 window=[-10,0) raw="x"`,
		`+U key=[1,2] ts=9999 window=[0,10000) header.src=web header.h="two words" topic=t partition=1 offset=2 3.0`,
		`-D key="\"q\"" ts=1 "string value"`,
	} {
		if strings.Contains(line, "window=[-10,0)") {
			// A window cannot end at 0 (WindowEnd 0 means none).
			if _, err := optest.ParseRecord(line); err == nil {
				t.Errorf("ParseRecord(%s) accepted a window ending at 0", line)
			}
			continue
		}
		r, err := optest.ParseRecord(line)
		if err != nil {
			t.Errorf("ParseRecord(%s): %v", line, err)
			continue
		}
		if got := optest.FormatRecord(r); got != line {
			t.Errorf("FormatRecord(ParseRecord(%s)) = %s", line, got)
		}
	}
	r, err := optest.ParseRecord(`key=k {"n": 1}`)
	want := operators.Record{Key: []byte("k"), Data: map[string]any{"n": int64(1)}}
	if err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("defaults: %+v, %v", r, err)
	}
	for _, bad := range []string{`ts=x {}`, `window=[1,2] {}`, `key="unterminated {}`, `raw="a" {"b":1}`, `{"a":`, `partition=x`} {
		if _, err := optest.ParseRecord(bad); err == nil {
			t.Errorf("ParseRecord(%s) accepted", bad)
		}
	}
}

func TestCountRestoreEquivalence(t *testing.T) {
	optest.RunRestoreEquivalence(t, "testdata/count.txt", func() operators.Operator { return &builtin.Count{} })
}

// The equivalence check passes for tumble when it keeps its watermark in
// state, and fails when it keeps it in memory only: after a restore that
// one takes a late record for an on-time one until the next watermark.
func TestTumbleRestoreEquivalence(t *testing.T) {
	opts := []optest.Option{optest.Name("counts"), optest.Inputs("add", "retract"), optest.Outputs("late")}
	optest.RunRestoreEquivalence(t, "testdata/tumble-equivalence.txt", func() operators.Operator { return &tumble{persistWatermark: true} }, opts...)

	script, err := os.ReadFile("testdata/tumble-equivalence.txt")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{TB: t}
	optest.CheckEquivalence(rec, string(script), func() operators.Operator { return &tumble{} }, opts...)
	if len(rec.failures) == 0 {
		t.Fatal("restoring tumble with its watermark in memory only passed the equivalence check")
	}
	if !strings.Contains(rec.failures[0], "port=late") {
		t.Errorf("the failure does not show the late record: %s", rec.failures[0])
	}
	t.Logf("as expected:\n%s", rec.failures[0])
}

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestTumbleEquivalenceScript(t *testing.T) {
	optest.Run(t, "testdata/tumble-equivalence.txt", func() operators.Operator { return &tumble{persistWatermark: true} },
		optest.Name("counts"), optest.Inputs("add", "retract"), optest.Outputs("late"))
}
