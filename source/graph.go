package source

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// GraphSource is a source of a job graph (an entry of sources, design
// §1.2) as the planner compiled it.
type GraphSource struct {
	// Config is the source's entry.
	Config config.SourceConfig
	// Key and EventTime are its compiled key and event-time expressions;
	// nil keeps the Kafka key and timestamp.
	Key, EventTime *plugin.Expr
	// Job is job.name: the default consumer group is tidemark-<job>.
	Job string
	// Lazy (format json): an object or array value is validated but not
	// decoded: Record.Data is a format/json.Raw over the Kafka value,
	// whose fields are decoded when read. Set it only when every
	// operator and sink the source's records reach handles a Raw (the
	// runner decides: internal/runner's lazySources).
	Lazy bool
}

// NewGraphKafka returns the source of task task of tasks of a job graph's
// source gs. Unlike a single-chain source it decodes each value once
// (format json: into Record.Data, objects as map[string]any, integral
// numbers as int64; format raw: the value stays bytes, a string to
// expressions), computes the key and the event time with the source's
// expressions, and rejects (as a dead letter naming the source) a record
// whose value is not JSON or whose key expression fails. A record whose
// event-time expression fails or gives null keeps its Kafka timestamp
// (counted, the first logged as a warning).
func NewGraphKafka(gs GraphSource, base []kgo.Opt, task, tasks int, log *zap.Logger, opts ...Option) *Kafka {
	sc := gs.Config
	k := &Kafka{src: sc, key: "sources[" + sc.Name + "]", group: sc.ConsumerGroup(gs.Job), base: base,
		task: task, tasks: tasks, log: log, now: time.Now}
	k.graph = &graphReader{name: sc.Name, decode: sc.Format != config.FormatRaw, lazy: gs.Lazy, key: gs.Key, ts: gs.EventTime,
		layout: timeLayout(sc.EventTime.Format), log: log}
	if sc.StopAt == config.StopAtEnd {
		opts = append([]Option{WithStopAtEnd()}, opts...)
	}
	for _, o := range opts {
		o(k)
	}
	return k
}

// timeLayout is the expression layout of an event_time.format.
func timeLayout(format string) string {
	switch format {
	case config.TimeRFC3339:
		return expression.LayoutRFC3339
	case config.TimeSQL:
		return expression.LayoutSQL
	case config.TimeEpochMillis:
		return expression.LayoutEpochMillis
	}
	return expression.LayoutAuto
}

// graphReader turns a Kafka record into a job graph's source record.
type graphReader struct {
	name    string
	decode  bool
	lazy    bool
	key, ts *plugin.Expr
	layout  string
	log     *zap.Logger

	dec       json.Decoder
	env       expression.Env
	rejects   []operators.DeadLetter
	fallbacks int64
}

// read decodes r's value and computes its key and event time in place;
// false: r is rejected (kept for TakeRejects).
func (g *graphReader) read(r *operators.Record) bool {
	if g.decode && r.Value != nil {
		var v any
		var err error
		if g.lazy {
			v, err = g.dec.Lazy(r.Value)
		} else {
			v, err = g.dec.Decode(r.Value)
		}
		if err != nil {
			g.reject(*r, fmt.Errorf("source %s (format json): the value is not JSON: %w", g.name, err))
			return false
		}
		r.Data = v
	}
	if g.key == nil && g.ts == nil {
		return true
	}
	g.env.Reset()
	g.env.SetRecord(r)
	if g.key != nil {
		k, err := g.key.EvalKey(&g.env, nil)
		if err != nil {
			g.reject(*r, fmt.Errorf("source %s: key: %w", g.name, err))
			return false
		}
		r.Key = k
	}
	if g.ts != nil {
		ts, err := g.eventTime()
		if err == nil {
			r.Timestamp = ts
		} else {
			g.fallback(r, err)
		}
	}
	return true
}

var errNullTime = errors.New("the event-time expression gave null")

// eventTime evaluates the event-time expression over the Env's record:
// a number is epoch ms, a string is read with the layout.
func (g *graphReader) eventTime() (int64, error) {
	v, err := g.ts.Eval(&g.env)
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case nil:
		return 0, errNullTime
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		if math.IsNaN(x) || x < math.MinInt64 || x >= math.MaxInt64 {
			return 0, fmt.Errorf("the event-time expression gave %v, not a number of milliseconds", x)
		}
		return int64(math.Floor(x)), nil
	case string:
		ms, err := expression.ParseTime(x, g.layout)
		if err != nil {
			return 0, fmt.Errorf("event time: %w", err)
		}
		return ms, nil
	}
	return 0, fmt.Errorf("the event-time expression gave a %T, want a number of milliseconds or a string", v)
}

func (g *graphReader) fallback(r *operators.Record, err error) {
	g.fallbacks++
	lvl := zap.DebugLevel
	if g.fallbacks == 1 {
		lvl = zap.WarnLevel
	}
	if ce := g.log.Check(lvl, "record's event time unreadable: using its Kafka timestamp (further cases are logged at debug level)"); ce != nil {
		ce.Write(zap.String("source", g.name), zap.String("topic", r.Topic), zap.Int32("partition", r.Partition), zap.Int64("offset", r.Offset),
			zap.Int64("fallbacks", g.fallbacks), zap.Error(err))
	}
}

func (g *graphReader) reject(r operators.Record, err error) {
	g.rejects = append(g.rejects, operators.DeadLetter{Record: r, Operator: g.name, Reason: err.Error()})
}

// TakeRejects implements operators.RejectingSource: the records the last
// Polls rejected (a job graph's source only).
func (k *Kafka) TakeRejects() []operators.DeadLetter {
	if k.graph == nil || len(k.graph.rejects) == 0 {
		return nil
	}
	dls := k.graph.rejects
	k.graph.rejects = nil
	return dls
}
