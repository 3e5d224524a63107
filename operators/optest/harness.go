package optest

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// Option configures a Harness.
type Option func(*config)

type config struct {
	name           string
	inputs         []string
	outputs        []string
	task, par      int
	maxParallelism int
	start          time.Time
	lazy           bool
}

// Name sets the operator's name, the operator id of its state (default
// "op").
func Name(name string) Option { return func(c *config) { c.name = name } }

// Inputs names the operator's inputs, in order (default: one input, "in"):
// a script's `process input=right` feeds input 1 of Inputs("left",
// "right"). Inputs are also addressed by number.
func Inputs(names ...string) Option { return func(c *config) { c.inputs = names } }

// Outputs names the operator's side outputs, port 1 on (the main output is
// port 0): records emitted to them are printed with port=<name>.
func Outputs(names ...string) Option { return func(c *config) { c.outputs = names } }

// Task sets the task index and parallelism of OpenContext (default 0 of
// 1). The backend holds every key group whatever the task.
func Task(index, parallelism int) Option {
	return func(c *config) { c.task, c.par = index, parallelism }
}

// MaxParallelism sets the state backend's number of key groups (default
// state.DefaultMaxParallelism).
func MaxParallelism(n int) Option { return func(c *config) { c.maxParallelism = n } }

// Start sets the processing time the harness starts at (default
// 2025-01-01T00:00:00Z). It moves only with Harness.SetTime (`time`).
func Start(t time.Time) Option { return func(c *config) { c.start = t } }

// LazyValues makes a script's JSON object and array values lazy, as a
// source hands them to filters and maps (format/json.Decoder.Lazy: a
// json.Raw decoded field by field when read), so that a script checks
// the operator reads them as it reads decoded ones.
func LazyValues() Option { return func(c *config) { c.lazy = true } }

// Output is one thing an operator emitted: a record on a port, or a record
// it rejected (DeadLetter set).
type Output struct {
	// Port is 0 for the main output, i ≥ 1 for the i-th side output.
	Port   int
	Record operators.Record
	// Reason is why a rejected record was rejected; DeadLetter marks one.
	DeadLetter bool
	Reason     string
}

// Harness runs one operator the way a task runs it: on a real Pebble
// state backend, with a processing-time clock it controls, a monotonic
// watermark, checkpoints of the backend, and restores into a fresh
// directory with a fresh operator. Methods fail the test on a harness
// problem and return the operator's own errors.
type Harness struct {
	t     testing.TB
	cfg   config
	newOp func() operators.Operator
	dir   string
	lives int

	op      operators.Operator
	backend *state.Backend
	now     time.Time
	wm      int64
	out     []Output
	lastID  int64
	chk     map[int64]string
	closed  bool
}

// New opens a fresh operator from newOp on an empty backend. newOp is
// called again for every Restore: it must return a new operator each time.
// The harness closes itself when the test ends.
func New(t testing.TB, newOp func() operators.Operator, opts ...Option) *Harness {
	t.Helper()
	cfg := config{name: "op", inputs: []string{"in"}, par: 1, maxParallelism: state.DefaultMaxParallelism,
		start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, o := range opts {
		o(&cfg)
	}
	h := &Harness{t: t, cfg: cfg, newOp: newOp, dir: t.TempDir(), now: cfg.start, chk: map[int64]string{}}
	t.Cleanup(h.Close)
	b, err := state.Open(h.liveDir(), h.backendOptions())
	if err != nil {
		t.Fatalf("optest: open state: %v", err)
	}
	h.backend = b
	if err := h.open(0); err != nil {
		t.Fatalf("optest: open %s: %v", cfg.name, err)
	}
	return h
}

func (h *Harness) liveDir() string {
	h.lives++
	return filepath.Join(h.dir, fmt.Sprintf("live-%d", h.lives))
}

func (h *Harness) backendOptions() state.Options {
	return state.Options{MaxParallelism: h.cfg.maxParallelism, Clock: func() time.Time { return h.now }}
}

func (h *Harness) open(restored int64) error {
	h.op = h.newOp()
	h.wm = math.MinInt64
	return h.op.Open(h.t.Context(), operators.OpenContext{
		Name: h.cfg.name, Task: h.cfg.task, Parallelism: h.cfg.par, State: h.backend,
		Log: zap.NewNop(), Now: func() time.Time { return h.now },
		Reject: func(r operators.Record, reason error) {
			h.out = append(h.out, Output{Record: r, DeadLetter: true, Reason: reason.Error()})
		},
		RestoredCheckpoint: restored,
	})
}

// Operator returns the operator the harness runs now (a new one after
// each Restore).
func (h *Harness) Operator() operators.Operator { return h.op }

// Backend returns the state backend the operator runs on now.
func (h *Harness) Backend() *state.Backend { return h.backend }

// Watermark is the last watermark the operator saw (math.MinInt64 after
// New and Restore).
func (h *Harness) Watermark() int64 { return h.wm }

// Now is the processing time.
func (h *Harness) Now() time.Time { return h.now }

// collector gathers what the operator emits.
type collector struct{ h *Harness }

func (c collector) Emit(r operators.Record) { c.EmitTo(0, r) }

func (c collector) EmitTo(port int, r operators.Record) {
	c.h.out = append(c.h.out, Output{Port: port, Record: r})
}

var _ operators.PortCollector = collector{}

func (h *Harness) take() []Output {
	out := h.out
	h.out = nil
	return out
}

// Input returns the index of an input given by name or number.
func (h *Harness) Input(name string) (int, error) {
	for i, n := range h.cfg.inputs {
		if n == name {
			return i, nil
		}
	}
	var i int
	if _, err := fmt.Sscanf(name, "%d", &i); err == nil && i >= 0 && fmt.Sprint(i) == name {
		return i, nil
	}
	return 0, fmt.Errorf("unknown input %q (inputs: %v, or a number)", name, h.cfg.inputs)
}

// Process feeds recs to input (0 for a one-input operator) and returns
// what the operator emitted and rejected.
func (h *Harness) Process(input int, recs []operators.Record) ([]Output, error) {
	out := collector{h}
	var err error
	if mi, ok := h.op.(operators.MultiInput); ok {
		err = mi.ProcessInput(h.t.Context(), input, recs, out)
	} else if input != 0 {
		err = fmt.Errorf("optest: input %d, but %T has one input (it does not implement operators.MultiInput)", input, h.op)
	} else {
		err = h.op.Process(h.t.Context(), recs, out)
	}
	return h.take(), err
}

// ErrWatermarkNotAhead: a watermark no later than the current one; a task
// never passes one on.
var ErrWatermarkNotAhead = errors.New("optest: watermark not ahead of the current one: a task would not pass it on")

// AdvanceWatermark advances the watermark to wm and returns what the operator
// emitted.
func (h *Harness) AdvanceWatermark(wm int64) ([]Output, error) {
	if wm <= h.wm {
		return nil, fmt.Errorf("%w (%d ≤ %d)", ErrWatermarkNotAhead, wm, h.wm)
	}
	h.wm = wm
	err := h.op.OnWatermark(h.t.Context(), wm, collector{h})
	return h.take(), err
}

// SetTime moves processing time to now (never back) and, if the operator
// has processing-time timers (operators.ProcessingTimer), lets them fire.
func (h *Harness) SetTime(now time.Time) ([]Output, error) {
	if now.Before(h.now) {
		return nil, fmt.Errorf("optest: processing time cannot go back from %s to %s", h.now.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	h.now = now
	var err error
	if pt, ok := h.op.(operators.ProcessingTimer); ok {
		err = pt.OnProcessingTime(h.t.Context(), now, collector{h})
	}
	return h.take(), err
}

// Checkpoint takes the next checkpoint as a task does: BeforeSnapshot
// (operators.SnapshotEmitter), SnapshotState, then a checkpoint of the
// backend. It returns the checkpoint's id and what BeforeSnapshot emitted.
func (h *Harness) Checkpoint() (int64, []Output, error) {
	id := h.lastID + 1
	ctx := h.t.Context()
	if se, ok := h.op.(operators.SnapshotEmitter); ok {
		if err := se.BeforeSnapshot(ctx, id, collector{h}); err != nil {
			return 0, h.take(), fmt.Errorf("before snapshot: %w", err)
		}
	}
	out := h.take()
	if err := h.op.SnapshotState(ctx, id); err != nil {
		return 0, out, fmt.Errorf("snapshot state: %w", err)
	}
	dir := filepath.Join(h.dir, fmt.Sprintf("chk-%d", id))
	if _, err := h.backend.Checkpoint(dir); err != nil {
		h.t.Fatalf("optest: checkpoint %d of the state backend: %v", id, err)
	}
	h.lastID = id
	h.chk[id] = dir
	return id, out, nil
}

// Complete tells the operator that checkpoint id is complete.
func (h *Harness) Complete(id int64) ([]Output, error) {
	err := h.op.NotifyCheckpointComplete(h.t.Context(), id)
	return h.take(), err
}

// LastCheckpoint is the id of the last checkpoint taken (0: none).
func (h *Harness) LastCheckpoint() int64 { return h.lastID }

// Restore closes the operator and its backend, as a crash would lose
// them, restores checkpoint id into a fresh directory and opens a new
// operator on it (RestoredCheckpoint id). The watermark starts over;
// processing time goes on. Any checkpoint taken may be restored, any
// number of times.
func (h *Harness) Restore(id int64) error {
	dir, ok := h.chk[id]
	if !ok {
		return fmt.Errorf("optest: no checkpoint %d (taken: 1 to %d)", id, h.lastID)
	}
	h.closeOp()
	b, err := state.OpenFrom(dir, h.liveDir(), h.backendOptions())
	if err != nil {
		h.t.Fatalf("optest: restore checkpoint %d: %v", id, err)
	}
	h.backend = b
	// Checkpoint ids go on increasing, and every checkpoint taken stays
	// restorable.
	h.out = nil
	return h.open(id)
}

func (h *Harness) closeOp() {
	if h.op != nil {
		if err := h.op.Close(); err != nil {
			h.t.Errorf("optest: close %s: %v", h.cfg.name, err)
		}
		h.op = nil
	}
	if h.backend != nil {
		if err := h.backend.Close(); err != nil {
			h.t.Errorf("optest: close state: %v", err)
		}
		h.backend = nil
	}
}

// Close closes the operator and the backend. New registers it with the
// test's Cleanup; calling it twice is harmless.
func (h *Harness) Close() {
	if h.closed {
		return
	}
	h.closed = true
	h.closeOp()
	_ = os.RemoveAll(h.dir)
}
