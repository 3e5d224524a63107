package aggregate

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/opmetrics"
	"github.com/tidemark/tidemark/plugin"
)

// Type is the operator's type name in a configuration.
const Type = "aggregate"

// LatePort is the side output of late records (port 1).
const LatePort = "late"

// Register adds the aggregate operator to env.
func Register(env *plugin.Environment) error {
	return env.RegisterOperator(Type, Spec(), New)
}

// Spec returns the aggregate operator's configuration spec.
func Spec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Aggregates records per group: per event-time window (tumbling, hopping, session, or the window records carry), or over the whole stream as an updating changelog.").
		Description(specDescription).
		Fields(
			plugin.NewExprMapField("group_by", expression.RecordContext).
				Description("The group: names and expressions, in order. The group key is the list of their values (a single value for one; `{}` is one global group, all in one task). The names are the first fields of the output.").
				Default(map[string]string{}).
				Example(map[string]string{"auction": "value.auction"}).
				Fingerprint(),
			plugin.NewObjectField("window",
				plugin.NewStringEnumField("type", "tumbling", "hopping", "session", "attached").
					Description("`tumbling`: `[s, s+size)` with `s = floor((t-offset)/size)·size + offset`; `hopping`: every `[s, s+size)` with `s ≡ offset (mod slide)` holding t; `session`: `[t, t+gap)` merged with every window of the group it intersects or touches (`[first, last+gap)`); `attached`: the window the record carries (set by an upstream window operator; a record without one is a dead letter)."),
				plugin.NewDurationField("size").Optional().Description("Window length (tumbling, hopping)."),
				plugin.NewDurationField("slide").Optional().Description("Distance between window starts (hopping); size must be a multiple of it."),
				plugin.NewDurationField("offset").Default("0s").Description("Shifts window starts from the epoch (tumbling, hopping)."),
				plugin.NewDurationField("gap").Optional().Description("Inactivity that closes a session (session).")).
				Optional().
				Description("The event-time window. Absent: a non-windowed aggregate whose output is an updating changelog.").
				Fingerprint(),
			plugin.NewObjectMapField("aggregates",
				plugin.NewStringEnumField("fn", fnNames...).
					Description("`count` (records, or non-null values of `expr`), `sum` (int while every input is an int, wrapping like a Java long; float once a float is seen; null without input), `min`, `max` (numbers or strings, not mixed), `avg` (ints: an int truncated toward zero, as Flink's AVG(BIGINT); floats: a float; null without input), `count_distinct` (distinct non-null values), `first`, `last` (the value at the smallest / largest timestamp, ties by arrival; need an append input). Null inputs are ignored."),
				plugin.NewExprField("expr", expression.RecordContext).Optional().
					Description("The function's input; required except for `count`."),
				plugin.NewExprField("filter", expression.RecordContext, expression.Bool()).Optional().
					Description("Only records for which it is true count (SQL `FILTER (WHERE …)`).")).
				Default(map[string]any{}).
				Description("Output name → function, in output order.").
				Fingerprint(),
			plugin.NewDurationField("allowed_lateness").Default("0s").
				Description("Windowed: how long after a window fired (by watermark) it still takes records; each one re-emits the window's row as an update (the output is then updating)."),
			plugin.NewBoolField("late").Default(false).
				Description("Windowed: send records too late for every window to the side output `late` (`from: <name>.late`) instead of dropping them (they are counted in `tidemark_late_records_total`)."),
			plugin.NewStringEnumField("emit", "on_change", "on_checkpoint").Default("on_change").
				Description("Non-windowed: emit each change of a group's row as it happens (`on_change`), or the changed groups' rows just before each checkpoint (`on_checkpoint`: same final rows, one update per group per checkpoint)."),
			plugin.NewDurationField("ttl").Default("0s").
				Description("Non-windowed: forget a group that has not changed for this long (processing time), without emitting anything; 0 keeps groups forever."),
			plugin.NewObjectField("window_fields",
				plugin.NewStringField("start").Default("window_start").Description("Name of the window start field (ms); empty: left out."),
				plugin.NewStringField("end").Default("window_end").Description("Name of the window end field (ms, exclusive); empty: left out.")).
				Description("Windowed: the names of the window bounds in the output row, after the group_by fields."),
		).
		Keyed("group_by").
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Outputs(LatePort).
		Changelog(changelog).
		Check(func(c *plugin.ParsedConfig) error {
			_, err := parseConfig(c)
			return err
		}).
		Example("Bids per auction in hopping windows (Nexmark q5)", `name: counts
type: aggregate
from: bid
group_by: {auction: value.auction}
window: {type: hopping, size: 10s, slide: 2s}
aggregates: {num: {fn: count}}`).
		Example("The largest count of each upstream window", `name: maxn
type: aggregate
from: counts
group_by: {starttime: window.start}
window: {type: attached}
aggregates: {maxn: {fn: max, expr: value.num}}`).
		Example("Sessions per user, late records to a side output", `name: sessions
type: aggregate
from: clicks
group_by: {user: value.user}
window: {type: session, gap: 30m}
allowed_lateness: 1m
late: true
aggregates:
  clicks: {fn: count}
  pages: {fn: count_distinct, expr: value.page}
  first_page: {fn: first, expr: value.page}`).
		Example("Average closing price per category, updated as it changes (Nexmark q4)", `name: q4_avg
type: aggregate
from: q4_max
group_by: {category: value.category}
aggregates: {final: {fn: avg, expr: value.final}}`).
		Example("Daily statistics, emitted at checkpoints (Nexmark q15)", `name: q15
type: aggregate
from: bid
group_by: {day: 'format_time(timestamp, "date")'}
emit: on_checkpoint
aggregates:
  total_bids: {fn: count}
  rank1_bids: {fn: count, filter: value.price < 10000}
  total_bidders: {fn: count_distinct, expr: value.bidder}`)
}

const specDescription = "A record belongs to a group (`group_by`; the planner routes records by it) and, " +
	"with a `window`, to event-time windows. Windows are half-open `[start, end)`, epoch-aligned; a window " +
	"fires when the watermark reaches `end − 1`, emitting one row per group with timestamp `end − 1` and the " +
	"record's window set (so `window.start` and `window.end` reach expressions downstream), and is dropped " +
	"once the watermark passes `end − 1 + allowed_lateness`. A record too late for all of its windows goes to " +
	"the `late` side output when `late: true`, else it is dropped and counted.\n\n" +
	"Output row, in this order: the `group_by` fields, the window bounds (`window_fields`, windowed only), the " +
	"aggregates. Output key: the group key.\n\n" +
	"Without a window the output is an updating changelog (sink `mode: upsert`): a group's first row is an " +
	"insert, each change an update-before of the old row and an update-after of the new one, a group left " +
	"without rows a delete. Updating inputs are taken back exactly (except by `first` and `last`, which need " +
	"an append input). A windowed aggregate needs an append input; its output is append-only unless " +
	"`allowed_lateness` is set."

// changelog derives the output mode (design §2.4).
func changelog(c *plugin.ParsedConfig, in []plugin.Mode) (plugin.Mode, error) {
	cfg, err := parseConfig(c)
	if err != nil {
		return 0, err
	}
	if cfg.win != nil {
		if in[0] == plugin.Updating {
			return 0, errors.New("a windowed aggregate needs an append input: a window's row is final once it fires and cannot take back updates; aggregate without a window, or window the stream before it updates")
		}
		if cfg.lateness > 0 {
			return plugin.Updating, nil
		}
		return plugin.Append, nil
	}
	if in[0] == plugin.Updating {
		for _, a := range cfg.aggs {
			if !a.fn.retractable() {
				return 0, fmt.Errorf("aggregates.%s: %s needs an append input: it cannot take back an update or a delete", a.name, a.fn)
			}
		}
	}
	return plugin.Updating, nil
}

// winKind is a window type.
type winKind uint8

const (
	tumbling winKind = iota
	hopping
	session
	attached
)

// windowSpec is a parsed window.
type windowSpec struct {
	kind                      winKind
	size, slide, offset, gapM int64 // ms
}

// config is a parsed aggregate.
type config struct {
	groupBy          []plugin.NamedExpr
	win              *windowSpec
	aggs             []aggDef
	lateness         int64 // ms
	late             bool
	emitOnCheckpoint bool
	ttl              time.Duration
	startField       string
	endField         string
}

// FieldOrder returns the names of the fields of the rows an aggregate
// configured by c emits, in order: the group_by names, the window bounds
// (windowed), the aggregates. A sink writes a row's fields in this order
// (sink.Spec.FieldOrder).
func FieldOrder(c *plugin.ParsedConfig) ([]string, error) {
	cfg, err := parseConfig(c)
	if err != nil {
		return nil, err
	}
	return cfg.fields(), nil
}

// fields returns the output's field names, in order.
func (c *config) fields() []string {
	var out []string
	for _, g := range c.groupBy {
		out = append(out, g.Name)
	}
	if c.win != nil {
		if c.startField != "" {
			out = append(out, c.startField)
		}
		if c.endField != "" {
			out = append(out, c.endField)
		}
	}
	for _, a := range c.aggs {
		out = append(out, a.name)
	}
	return out
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// parseConfig reads and checks a parsed configuration.
func parseConfig(c *plugin.ParsedConfig) (*config, error) {
	cfg := &config{}
	var err error
	if cfg.groupBy, err = c.FieldExprMap("group_by"); err != nil {
		return nil, err
	}
	if c.Contains("window") {
		w := &windowSpec{}
		typ, err := c.FieldString("window", "type")
		if err != nil {
			return nil, err
		}
		dur := func(name string) (int64, bool, error) {
			if !c.Contains("window", name) {
				return 0, false, nil
			}
			d, err := c.FieldDuration("window", name)
			if err != nil {
				return 0, false, err
			}
			if d%time.Millisecond != 0 {
				return 0, true, plugin.FieldErrorf("window."+name, "%s is not a whole number of milliseconds", d)
			}
			return ms(d), true, nil
		}
		need := func(name, why string) (int64, error) {
			v, ok, err := dur(name)
			switch {
			case err != nil:
				return 0, err
			case !ok:
				return 0, plugin.FieldErrorf("window", "a %s window needs %s (%s)", typ, name, why)
			case v <= 0:
				return 0, plugin.FieldErrorf("window."+name, "must be positive, not %s", time.Duration(v)*time.Millisecond)
			}
			return v, nil
		}
		refuse := func(names ...string) error {
			for _, n := range names {
				if c.Contains("window", n) {
					return plugin.FieldErrorf("window."+n, "a %s window takes no %s", typ, n)
				}
			}
			return nil
		}
		if w.offset, _, err = dur("offset"); err != nil {
			return nil, err
		}
		switch typ {
		case "tumbling":
			w.kind = tumbling
			if w.size, err = need("size", "its length"); err != nil {
				return nil, err
			}
			w.slide = w.size
			err = refuse("slide", "gap")
		case "hopping":
			w.kind = hopping
			if w.size, err = need("size", "its length"); err != nil {
				return nil, err
			}
			if w.slide, err = need("slide", "the distance between window starts"); err != nil {
				return nil, err
			}
			if w.size%w.slide != 0 {
				return nil, plugin.FieldErrorf("window.size", "%s is not a multiple of slide %s", time.Duration(w.size)*time.Millisecond, time.Duration(w.slide)*time.Millisecond)
			}
			err = refuse("gap")
		case "session":
			w.kind = session
			if w.gapM, err = need("gap", "the inactivity that closes a session"); err != nil {
				return nil, err
			}
			if err = refuse("size", "slide"); err == nil && w.offset != 0 {
				err = plugin.FieldErrorf("window.offset", "a session window takes no offset")
			}
		case "attached":
			w.kind = attached
			if err = refuse("size", "slide", "gap"); err == nil && w.offset != 0 {
				err = plugin.FieldErrorf("window.offset", "an attached window takes no offset")
			}
		}
		if err != nil {
			return nil, err
		}
		if w.slide > 0 {
			w.offset = ((w.offset % w.slide) + w.slide) % w.slide
		}
		cfg.win = w
	}
	aggs, err := c.FieldObjectMap("aggregates")
	if err != nil {
		return nil, err
	}
	for _, a := range aggs {
		fs, err := a.Config.FieldString("fn")
		if err != nil {
			return nil, err
		}
		f, _ := parseFn(fs)
		d := aggDef{name: a.Name, fn: f}
		if a.Config.Contains("expr") {
			if d.expr, err = a.Config.FieldExpr("expr"); err != nil {
				return nil, err
			}
		} else if f != fnCount {
			return nil, plugin.FieldErrorf("aggregates."+a.Name, "%s needs expr, the value it aggregates", f)
		}
		if a.Config.Contains("filter") {
			if d.filter, err = a.Config.FieldExpr("filter"); err != nil {
				return nil, err
			}
		}
		cfg.aggs = append(cfg.aggs, d)
	}
	lat, err := c.FieldDuration("allowed_lateness")
	if err != nil {
		return nil, err
	}
	if lat < 0 {
		return nil, plugin.FieldErrorf("allowed_lateness", "must not be negative, not %s", lat)
	}
	cfg.lateness = ms(lat)
	if cfg.late, err = c.FieldBool("late"); err != nil {
		return nil, err
	}
	emit, err := c.FieldString("emit")
	if err != nil {
		return nil, err
	}
	cfg.emitOnCheckpoint = emit == "on_checkpoint"
	if cfg.ttl, err = c.FieldDuration("ttl"); err != nil {
		return nil, err
	}
	if cfg.ttl < 0 {
		return nil, plugin.FieldErrorf("ttl", "must not be negative, not %s", cfg.ttl)
	}
	if cfg.startField, err = c.FieldString("window_fields", "start"); err != nil {
		return nil, err
	}
	if cfg.endField, err = c.FieldString("window_fields", "end"); err != nil {
		return nil, err
	}
	if cfg.win != nil {
		if cfg.emitOnCheckpoint {
			return nil, plugin.FieldErrorf("emit", "a windowed aggregate emits when its windows fire: emit is for aggregates without a window")
		}
		if cfg.ttl != 0 {
			return nil, plugin.FieldErrorf("ttl", "a windowed aggregate drops a window once it fired: ttl is for aggregates without a window")
		}
	} else {
		if cfg.lateness != 0 {
			return nil, plugin.FieldErrorf("allowed_lateness", "only a windowed aggregate has late records: set a window or remove allowed_lateness")
		}
		if cfg.late {
			return nil, plugin.FieldErrorf("late", "only a windowed aggregate has late records: set a window or remove late")
		}
	}
	seen := map[string]bool{}
	for _, n := range cfg.fields() {
		if seen[n] {
			return nil, fmt.Errorf("output field %q is given twice: rename it in group_by, window_fields or aggregates", n)
		}
		seen[n] = true
	}
	return cfg, nil
}

// New is the operator's constructor (plugin.OperatorConstructor).
func New(c *plugin.ParsedConfig, res *plugin.Resources) (operators.Operator, error) {
	cfg, err := parseConfig(c)
	if err != nil {
		return nil, err
	}
	var late prometheus.Counter
	if res != nil && res.Metrics != nil {
		if late, err = opmetrics.LateRecords(res.Metrics, res.Name); err != nil {
			return nil, fmt.Errorf("aggregate: %w", err)
		}
	}
	if cfg.win != nil {
		return &Windowed{common: common{cfg: cfg}, lateCounter: late}, nil
	}
	u := &Updating{common: common{cfg: cfg}}
	if cfg.emitOnCheckpoint {
		return &OnCheckpoint{Updating: u}, nil
	}
	return u, nil
}
