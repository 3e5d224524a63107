package join

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/opmetrics"
	"github.com/tidemark/tidemark/operators/state"
	"github.com/tidemark/tidemark/plugin"
)

// The sides of a join: its input indexes.
const (
	left  = 0
	right = 1
)

// latePort is the side output of late records.
const latePort = 1

// emptyRow stands for the missing side of an outer join in expressions:
// every field of it reads null. Never modified.
var emptyRow = map[string]any{}

// base is what every kind of join has: configuration, the watermark
// (kept in state), the expression environment and the late counter.
type base struct {
	operators.Base
	cfg    *config
	name   string
	log    *zap.Logger
	reject func(operators.Record, error)
	b      *state.Backend
	timers *state.Timers

	wm      int64
	wmState *state.Value[int64]
	wmKey   []byte

	env  expression.Env
	dec  json.Decoder
	enc  []byte // scratch for row encodings
	late prometheus.Counter
}

func newBase(cfg *config, res *plugin.Resources) base {
	b := base{cfg: cfg, log: zap.NewNop()}
	if res != nil {
		b.name = res.Name
		if res.Log != nil {
			b.log = res.Log
		}
		b.late = lateCounter(res.Metrics, res.Name, b.log)
	}
	return b
}

// lateCounter is operator's late-records counter in reg (nil: not
// exported); a registry whose name is taken by something else is logged
// and the counter is not exported.
func lateCounter(reg prometheus.Registerer, operator string, log *zap.Logger) prometheus.Counter {
	c, err := opmetrics.LateRecords(reg, operator)
	if err != nil {
		if log != nil {
			log.Warn("join: the late-records counter is not exported", zap.Error(err))
		}
		c, _ = opmetrics.LateRecords(nil, operator)
	}
	return c
}

// open sets up what every join keeps in state.
func (j *base) open(oc operators.OpenContext) error {
	if oc.State == nil {
		return fmt.Errorf("join %s: no state backend: a join is keyed and must run in a stateful task", oc.Name)
	}
	j.name = oc.Name
	j.b = oc.State
	if oc.Log != nil {
		j.log = oc.Log
	}
	j.reject = oc.Reject
	if j.reject == nil {
		j.reject = func(r operators.Record, err error) {
			j.log.Warn("join: record dropped", zap.Error(err), zap.ByteString("key", r.Key))
		}
	}
	j.timers = state.NewTimers(oc.State, oc.Name)
	j.wmKey = watermarkKey(oc.State)
	j.wmState = state.NewValue(oc.State, oc.Name, "watermark", state.Int64{})
	j.wm = math.MinInt64
	wm, ok, err := j.wmState.Get(j.wmKey)
	if err != nil {
		return fmt.Errorf("join %s: restore the watermark: %w", oc.Name, err)
	}
	if ok {
		j.wm = wm
	}
	return nil
}

// watermarkKey is the key the watermark is kept under: the first of wm0,
// wm1, … whose key group the backend holds.
func watermarkKey(b *state.Backend) []byte {
	kgs := b.KeyGroups()
	for i := 0; ; i++ {
		k := []byte("wm" + strconv.Itoa(i))
		if kgs.Contains(state.KeyGroup(k, b.MaxParallelism())) {
			return k
		}
	}
}

// advance moves the watermark to wm and keeps it in state; false if wm
// is not ahead of it (after a restore the runtime starts watermarks over).
func (j *base) advance(wm int64) (bool, error) {
	if wm <= j.wm {
		return false, nil
	}
	j.wm = wm
	if err := j.wmState.Put(j.wmKey, wm); err != nil {
		return false, fmt.Errorf("join %s: keep the watermark: %w", j.name, err)
	}
	return true, nil
}

// emitLate sends r to the late side output and counts it.
func (j *base) emitLate(r operators.Record, out operators.Collector) {
	j.late.Inc()
	if pc, ok := out.(operators.PortCollector); ok {
		pc.EmitTo(latePort, r)
	}
}

// Row encodings, stored in state: a tag, then the value.
const (
	tagNull = 'n' // no value
	tagJSON = 'j' // Data as JSON (objects' fields sorted: equal values encode equally)
	tagRaw  = 'r' // undecoded Value bytes
)

// appendRow appends the encoding of r's value to dst.
func appendRow(dst []byte, r *operators.Record) ([]byte, error) {
	switch {
	case r.Data != nil:
		out, err := json.AppendValue(append(dst, tagJSON), r.Data, nil)
		if err != nil {
			return dst, fmt.Errorf("join: the value cannot be kept in state: %w", err)
		}
		return out, nil
	case r.Value != nil:
		return append(append(dst, tagRaw), r.Value...), nil
	}
	return append(dst, tagNull), nil
}

// decodeRow returns the value an encoded row holds, as expressions see
// it (a raw value as a string).
func (j *base) decodeRow(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("join %s: %w: empty row", j.name, state.ErrCorrupt)
	}
	switch b[0] {
	case tagNull:
		return nil, nil
	case tagRaw:
		return string(b[1:]), nil
	case tagJSON:
		v, err := j.dec.Decode(b[1:])
		if err != nil {
			return nil, fmt.Errorf("join %s: %w: row: %w", j.name, state.ErrCorrupt, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("join %s: %w: row tag %q", j.name, state.ErrCorrupt, b[0])
}

// valueOf is a record's value as expressions see it.
func valueOf(r *operators.Record) any {
	if r.Data == nil && r.Value != nil {
		return string(r.Value)
	}
	return r.Data
}

// pairEnv readies the environment for a pair of rows: nil stands for the
// missing side of an outer join.
func (j *base) pairEnv(key string, l, r any, ts int64, win *expression.Window) *expression.Env {
	e := &j.env
	e.Reset()
	e.Key, e.Timestamp, e.Window = key, ts, win
	if l == nil {
		l = emptyRow
	}
	if r == nil {
		r = emptyRow
	}
	e.Left, e.Right = l, r
	return e
}

// matches reports whether `where` holds for the pair in the environment.
func (j *base) matches(e *expression.Env) (bool, error) {
	if j.cfg.where == nil {
		return true, nil
	}
	return j.cfg.where.EvalBool(e)
}

// output computes the output value of the pair in the environment:
// `select`, or left's fields then right's. Absent sides are nil.
func (j *base) output(e *expression.Env, l, r any) (any, error) {
	if j.cfg.sel != nil {
		out := make(map[string]any, len(j.cfg.sel))
		for _, f := range j.cfg.sel {
			v, err := f.Expr.Eval(e)
			if err != nil {
				return nil, err
			}
			out[f.Name] = v
		}
		return out, nil
	}
	lm, lok := l.(map[string]any)
	rm, rok := r.(map[string]any)
	if (!lok && l != nil) || (!rok && r != nil) {
		side, v := "left", l
		if lok || l == nil {
			side, v = "right", r
		}
		return nil, valueErrorf("join %s: the %s value is not an object but %T: set select to say what to output", j.name, side, v)
	}
	out := make(map[string]any, len(lm)+len(rm))
	for k, v := range lm {
		out[k] = v
	}
	for k, v := range rm {
		out[k] = v
	}
	return out, nil
}

// pair evaluates `select` for a pair of rows (nil: the missing side)
// when they match: ok is false when `where` does not hold. withWhere
// false skips `where` (a padded row).
func (j *base) pair(key string, l, r any, ts int64, win *expression.Window, withWhere bool) (v any, ok bool, err error) {
	e := j.pairEnv(key, l, r, ts, win)
	if withWhere {
		if ok, err := j.matches(e); err != nil || !ok {
			return nil, false, err
		}
	}
	v, err = j.output(e, l, r)
	return v, err == nil, err
}

// sides orders a row of side s and a row of the other side as (left, right).
func sides(s int, own, other any) (l, r any) {
	if s == left {
		return own, other
	}
	return other, own
}

// NotifyCheckpointComplete, SnapshotState, Close: the join keeps all it
// has in the state backend.
func (j *base) SnapshotState(context.Context, int64) error { return nil }

// Process is never called: the task calls ProcessInput of a two-input
// operator.
func (j *base) Process(context.Context, []operators.Record, operators.Collector) error {
	return fmt.Errorf("join %s: Process called on a two-input operator: the runtime must call ProcessInput", j.name)
}

// valueError is a problem with a record's value (not with the job): the
// record is rejected to the dead-letter output.
type valueError struct{ msg string }

func (e *valueError) Error() string { return e.msg }

func valueErrorf(format string, args ...any) error {
	return &valueError{msg: fmt.Sprintf(format, args...)}
}

// rejectable reports whether err is about a record (an expression that
// failed over it, a value of the wrong type), not the job: the record
// goes to the dead-letter output and the job goes on.
func rejectable(err error) bool {
	var ee *plugin.ExprError
	var ve *valueError
	return errors.As(err, &ee) || errors.As(err, &ve)
}

// keySet is a set of keys (the keys cleaned up at one watermark).
type keySet map[string]struct{}

// add adds key and reports whether it was new.
func (s *keySet) add(key []byte) bool {
	if *s == nil {
		*s = keySet{}
	}
	if _, ok := (*s)[string(key)]; ok {
		return false
	}
	(*s)[string(key)] = struct{}{}
	return true
}

// cleanupStep is the granularity of the timers that drop rows nothing can
// match any more (interval and regular joins): their times are rounded up
// to a multiple of it, so that a key holds about one such timer per step
// instead of one per row. Dropping later is invisible: a row past its
// expiry cannot match a row that is not late (interval), and is skipped
// when matching (regular).
const cleanupStep = 1000

// cleanupAt is the timer time that drops a row expiring at t.
func cleanupAt(t int64) int64 {
	if t > math.MaxInt64-cleanupStep {
		return math.MaxInt64
	}
	r := floorDiv(t, cleanupStep) * cleanupStep
	if r < t {
		r += cleanupStep
	}
	return r
}
