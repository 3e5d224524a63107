package join

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// TypeName is the operator type the join registers as.
const TypeName = "join"

// The kinds of join (the `join` setting).
const (
	Regular  = "regular"
	Interval = "interval"
	Window   = "window"
)

// The window types of a window join (`window.type`).
const (
	Tumbling = "tumbling"
	Hopping  = "hopping"
	Attached = "attached"
)

// which `how` each kind of join takes.
var hows = map[string][]string{
	Regular:  {"inner", "left"},
	Interval: {"inner"},
	Window:   {"inner", "left", "right", "full", "semi", "anti"},
}

// Register adds the join operator to env (type "join").
func Register(env *plugin.Environment) error {
	return env.RegisterOperator(TypeName, Spec(), New)
}

// Spec returns the join's configuration spec.
func Spec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Joins two inputs by key: a regular (inner or left) join, an interval join in event time, or a window join.").
		Description(description).
		Inputs(2).
		Keyed("key.left", "key.right").
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Outputs("late").
		Changelog(changelog).
		Fields(
			plugin.NewStringEnumField("join", Regular, Interval, Window).Default(Regular).Fingerprint().
				Description("`regular`: rows kept in state and joined whenever they meet; `interval`: rows match when their event times are within `between`; `window`: rows of the same window are joined when it closes."),
			plugin.NewStringEnumField("how", "inner", "left", "right", "full", "semi", "anti").Default("inner").Fingerprint().
				Description("Outer-ness: `inner` (all kinds); `left` (regular and window joins); `right`, `full`, `semi` (left rows with a match, once), `anti` (left rows without one): window joins."),
			plugin.NewObjectField("key",
				plugin.NewExprListField("left", expression.RecordContext).
					Description("The left input's key: an expression, or a list of them for a composite key.").Example("value.seller"),
				plugin.NewExprListField("right", expression.RecordContext).
					Description("The right input's key, equal to the left's for rows that join.").Example("value.id"),
			).Fingerprint().Description("The join key of each side; the output's key."),
			plugin.NewExprField("where", expression.JoinContext, expression.Bool()).Optional().
				Description("A condition over `left` and `right` (and `key`, `timestamp`, `window`) that a pair of rows with equal keys must meet to join."),
			plugin.NewExprMapField("select", expression.JoinContext).Optional().
				Description("The output's fields, in order, as expressions over `left`, `right`, `key`, `timestamp` and `window`. Default: the left row's fields, then the right row's (the right wins on a clash). The missing side of an outer join is an empty object: its fields read null.").
				Example(map[string]string{"name": "right.name", "id": "left.id"}),
			plugin.NewDurationField("ttl").Default("0s").
				Description("Regular join: a row is dropped from state this long (processing time) after it was last written; 0 keeps rows until `retain` drops them, or forever. Dropping emits nothing (as Flink's state TTL)."),
			plugin.NewObjectField("retain",
				plugin.NewExprField("left", expression.RecordContext).Optional().
					Description("The event time (ms) after which a left row can no longer match."),
				plugin.NewExprField("right", expression.RecordContext).Optional().
					Description("The event time (ms) after which a right row can no longer match."),
			).Optional().
				Description("Regular join: per side, an expression over the row's own record (`value`, `timestamp`) giving the event time after which it cannot match any more; the row is dropped once the watermark reaches it (an event-time timer)."),
			plugin.NewObjectField("between",
				plugin.NewDurationField("lower").Description("Lower bound: a left row at l matches a right row at r when r + lower <= l."),
				plugin.NewDurationField("upper").Description("Upper bound: … and l <= r + upper."),
			).Optional().Fingerprint().
				Description("Interval join: the event-time bounds, both inclusive (Flink SQL's `l.t BETWEEN r.t + lower AND r.t + upper`)."),
			plugin.NewObjectField("window",
				plugin.NewStringEnumField("type", Tumbling, Hopping, Attached).
					Description("`tumbling` and `hopping` assign windows by event time; `attached` joins in the window each record carries (set by a window aggregate upstream)."),
				plugin.NewDurationField("size").Optional().Description("Window length (tumbling, hopping)."),
				plugin.NewDurationField("slide").Optional().Description("Hopping: how far apart windows start; `size` must be a multiple of it."),
				plugin.NewDurationField("offset").Default("0s").Description("Shifts window starts from the epoch."),
			).Optional().Fingerprint().
				Description("Window join: the windows rows are joined in."),
		).
		Check(check).
		Example("Regular inner join (Nexmark q3)", `type: join
from: [auctions, persons]
key: {left: value.seller, right: value.id}
select: {name: right.name, city: right.city, state: right.state, id: left.id}`).
		Example("Left join of orders with payments, state kept one day", `type: join
how: left
from: [orders, payments]
key: {left: value.order_id, right: value.order_id}
ttl: 24h
select: {order: left.order_id, amount: left.amount, paid_at: right.paid_at}`).
		Example("Interval join: bids within 10 s before the window's maximum (Nexmark q7)", `type: join
join: interval
from: [bid, maxprice]
key: {left: value.price, right: value.maxprice}
between: {lower: -10s, upper: 0s}
select: {auction: left.auction, price: left.price, bidder: left.bidder, dateTime: left.dateTime, extra: left.extra}`).
		Example("Window join on the windows of two aggregates (Nexmark q8)", `type: join
join: window
window: {type: attached}
from: [new_persons, new_sellers]
key: {left: value.id, right: value.seller}
select: {id: left.id, name: left.name, stime: 'format_time(window.start, "sql")'}`)
}

const description = "Both inputs are keyed: `key.left` is evaluated over left records and `key.right` over right ones, " +
	"and rows join when their keys are equal and `where` holds. The output's key is the join key.\n\n" +
	"* `join: regular` keeps every row in state (until `ttl` or `retain`) and joins each arriving row with the other " +
	"side's stored rows, so arrival order does not matter. Its output timestamp is the later of the two rows'. " +
	"Update-before and delete inputs take a row away and retract the joined rows it made (a delete). " +
	"`how: left` emits `(left, null)` for a left row without match; the first matching right row retracts it " +
	"(update-before) and emits the pair (update-after), and the last one leaving does the reverse. " +
	"Output: append when both inputs are and the join is inner, updating otherwise.\n" +
	"* `join: interval` (inner) joins a left row at time l with right rows at r where `r + lower <= l <= r + upper`. " +
	"A row whose time is at or behind the watermark is late (side output `late`). A left row stays in state until the " +
	"watermark reaches `l - lower`, a right row until `r + upper`. Output timestamp: the later row's. Append inputs only.\n" +
	"* `join: window` buffers rows per key and window and joins them when the watermark reaches the window's end − 1, " +
	"then drops them; outer joins pad the missing side, `semi`/`anti` emit left rows with/without a match. Output " +
	"timestamp: end − 1, with the window set. A row whose windows have all fired is late (side output `late`). " +
	"Append inputs only.\n\n" +
	"Records of the `late` side output are the input records as they arrived, from either side. " +
	"A record whose `where`, `select` or `retain` fails to evaluate goes to the dead-letter topic with the expression's position."

func changelog(c *plugin.ParsedConfig, in []plugin.Mode) (plugin.Mode, error) {
	kind, _ := c.FieldString("join")
	how, _ := c.FieldString("how")
	updatingIn := len(in) > 0 && (in[0] == plugin.Updating || len(in) > 1 && in[1] == plugin.Updating)
	switch kind {
	case Interval, Window:
		if updatingIn {
			return 0, fmt.Errorf("join: %s needs append inputs: it joins rows by event time and cannot take an update or a delete back (use join: regular)", kind)
		}
		return plugin.Append, nil
	}
	if how == "left" || updatingIn {
		return plugin.Updating, nil
	}
	return plugin.Append, nil
}

func check(c *plugin.ParsedConfig) error {
	kind, _ := c.FieldString("join")
	how, _ := c.FieldString("how")
	var errs []error
	ok := false
	for _, h := range hows[kind] {
		ok = ok || h == how
	}
	if !ok {
		errs = append(errs, plugin.FieldErrorf("how", "join: %s takes how: %s, not %s", kind, strings.Join(hows[kind], ", "), how))
	}
	has := func(f string) bool { return c.Contains(f) }
	only := func(f, k string) {
		if has(f) && kind != k {
			errs = append(errs, plugin.FieldErrorf(f, "applies to join: %s only (this is a %s join)", k, kind))
		}
	}
	only("between", Interval)
	only("window", Window)
	only("retain", Regular)
	if ttl, _ := c.FieldDuration("ttl"); ttl != 0 && kind != Regular {
		errs = append(errs, plugin.FieldErrorf("ttl", "applies to join: regular only (a %s join cleans up by event time)", kind))
	} else if ttl < 0 {
		errs = append(errs, plugin.FieldErrorf("ttl", "must not be negative (0 keeps rows)"))
	}
	switch kind {
	case Interval:
		if !has("between") {
			errs = append(errs, plugin.FieldErrorf("between", "is required for an interval join: {lower: -10s, upper: 0s}"))
		} else {
			lo, _ := c.FieldDuration("between", "lower")
			hi, _ := c.FieldDuration("between", "upper")
			if lo > hi {
				errs = append(errs, plugin.FieldErrorf("between", "lower (%s) is above upper (%s): no rows would ever match", lo, hi))
			}
			if lo%time.Millisecond != 0 || hi%time.Millisecond != 0 {
				errs = append(errs, plugin.FieldErrorf("between", "bounds must be whole milliseconds"))
			}
		}
	case Window:
		if !has("window") {
			errs = append(errs, plugin.FieldErrorf("window", "is required for a window join: {type: tumbling, size: 10s}, or {type: attached}"))
		} else if err := checkWindow(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkWindow(c *plugin.ParsedConfig) error {
	typ, _ := c.FieldString("window", "type")
	size, hasSize := durationIf(c, "size")
	slide, hasSlide := durationIf(c, "slide")
	offset, _ := c.FieldDuration("window", "offset")
	switch typ {
	case Attached:
		if hasSize || hasSlide || offset != 0 {
			return plugin.FieldErrorf("window", "an attached window takes no size, slide or offset: it is the window each record carries")
		}
	case Tumbling:
		if !hasSize || size <= 0 {
			return plugin.FieldErrorf("window.size", "a tumbling window needs a size > 0")
		}
		if hasSlide {
			return plugin.FieldErrorf("window.slide", "a tumbling window takes no slide (use type: hopping)")
		}
	case Hopping:
		if !hasSize || size <= 0 || !hasSlide || slide <= 0 {
			return plugin.FieldErrorf("window", "a hopping window needs a size > 0 and a slide > 0")
		}
		if size%slide != 0 {
			return plugin.FieldErrorf("window.size", "%s is not a multiple of the slide %s", size, slide)
		}
	}
	for _, d := range []time.Duration{size, slide, offset} {
		if d%time.Millisecond != 0 {
			return plugin.FieldErrorf("window", "sizes, slides and offsets must be whole milliseconds")
		}
	}
	return nil
}

func durationIf(c *plugin.ParsedConfig, f string) (time.Duration, bool) {
	if !c.Contains("window", f) {
		return 0, false
	}
	d, err := c.FieldDuration("window", f)
	return d, err == nil
}

// config is a join's parsed configuration.
type config struct {
	kind, how string
	where     *plugin.Expr       // nil: every pair with equal keys
	sel       []plugin.NamedExpr // nil: left's fields then right's
	ttl       time.Duration
	retain    [2]*plugin.Expr // per side; nil: kept
	lower     int64           // ms
	upper     int64
	win       windows
}

func parseConfig(c *plugin.ParsedConfig) (*config, error) {
	cfg := &config{}
	var err error
	get := func(fn func() error) {
		if err == nil {
			err = fn()
		}
	}
	get(func() (e error) { cfg.kind, e = c.FieldString("join"); return })
	get(func() (e error) { cfg.how, e = c.FieldString("how"); return })
	get(func() (e error) { cfg.ttl, e = c.FieldDuration("ttl"); return })
	if c.Contains("where") {
		get(func() (e error) { cfg.where, e = c.FieldExpr("where"); return })
	}
	if c.Contains("select") {
		get(func() (e error) { cfg.sel, e = c.FieldExprMap("select"); return })
	}
	for i, side := range []string{"left", "right"} {
		if c.Contains("retain", side) {
			get(func() (e error) { cfg.retain[i], e = c.FieldExpr("retain", side); return })
		}
	}
	if c.Contains("between") {
		var lo, hi time.Duration
		get(func() (e error) { lo, e = c.FieldDuration("between", "lower"); return })
		get(func() (e error) { hi, e = c.FieldDuration("between", "upper"); return })
		cfg.lower, cfg.upper = lo.Milliseconds(), hi.Milliseconds()
	}
	if c.Contains("window") {
		var typ string
		var size, slide, offset time.Duration
		get(func() (e error) { typ, e = c.FieldString("window", "type"); return })
		size, _ = durationIf(c, "size")
		slide, _ = durationIf(c, "slide")
		get(func() (e error) { offset, e = c.FieldDuration("window", "offset"); return })
		cfg.win = windows{typ: typ, size: size.Milliseconds(), slide: slide.Milliseconds(), offset: offset.Milliseconds()}
		if typ == Tumbling {
			cfg.win.slide = cfg.win.size
		}
	}
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if err := check(c); err != nil {
		return nil, fmt.Errorf("join %s: %w", c.Name(), err)
	}
	return cfg, nil
}

// New makes a join operator from its parsed configuration: the
// plugin.OperatorConstructor of the "join" type.
func New(c *plugin.ParsedConfig, res *plugin.Resources) (operators.Operator, error) {
	cfg, err := parseConfig(c)
	if err != nil {
		return nil, err
	}
	b := newBase(cfg, res)
	switch cfg.kind {
	case Interval:
		return &intervalJoin{base: b}, nil
	case Window:
		return &windowJoin{base: b}, nil
	}
	return &regularJoin{base: b}, nil
}

// FieldOrder returns the names of the fields of the rows a join
// configured by c emits, in order: the names of `select` as written; nil
// without select (the two rows' fields, which a sink writes sorted). A
// sink writes a row's fields in this order (sink.Spec.FieldOrder), as for
// aggregate.FieldOrder.
func FieldOrder(c *plugin.ParsedConfig) ([]string, error) {
	if !c.Contains("select") {
		return nil, nil
	}
	sel, err := c.FieldExprMap("select")
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	names := make([]string, len(sel))
	for i, f := range sel {
		names[i] = f.Name
	}
	return names, nil
}
