package rank

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/opmetrics"
	"github.com/tidemark/tidemark/plugin"
)

// Register adds the operator type top_n to env.
func Register(env *plugin.Environment) error {
	return env.RegisterOperator("top_n", Spec(), New)
}

// Spec returns the spec of top_n.
func Spec() *plugin.ConfigSpec {
	rec := expression.RecordContext
	return plugin.NewConfigSpec().
		Summary("Keeps the first n rows of each partition by an order, numbered like SQL's ROW_NUMBER().").
		Description("Row-number semantics (`ROW_NUMBER() OVER (PARTITION BY … ORDER BY …) … WHERE rn <= n` "+
			"over an append-only input): the rows of a partition sorted by `order_by`, ties in arrival "+
			"order (the earlier first), row i numbered i. Values sort null first (last when `desc`), then "+
			"bools, numbers (ints and floats together), strings (by bytes), lists and objects (by JSON "+
			"text).\n\n"+
			"**Continuous** (no `window`), with `rank_field`: when a row enters at position p ≤ n, every "+
			"position from p to the last filled one changes: for each, an update-before of the row that "+
			"was there and an update-after of the row now there (an insert for a position filled for the "+
			"first time), each with its number in `rank_field` and the key `[partition values…, number]` "+
			"(the upsert key: write it with a sink in `mode: upsert`). Without `rank_field`: an insert of "+
			"the entering row and a delete of the row it pushes out, keyed by the partition (a retract "+
			"stream: an upsert sink keeps one row per key, so give it `rank_field`). A row that "+
			"does not enter the top n emits nothing. The output is updating.\n\n"+
			"**Windowed** (`window`): the rows of each partition and event-time window are kept until the "+
			"watermark reaches the window's end − 1; then its top n are emitted (inserts, numbered in "+
			"`rank_field` if set, timestamp end − 1, window set) and dropped. A record whose windows have "+
			"all fired is late: it goes to the side output `late` (dropped if nothing reads it). The output "+
			"is append.\n\n"+
			"A failing expression, a value that is not an object when `rank_field` is set, or an update "+
			"or delete record goes to the dead-letter topic. State per partition holds at most n rows.").
		Fields(
			plugin.NewExprMapField("partition_by", rec).Default(map[string]string{}).
				Description("The partition (name → expression; the key): one top n per distinct value. Empty: one top n over everything, in one task.").
				Example(map[string]string{"auction": "value.auction"}).Fingerprint(),
			plugin.NewObjectListField("order_by",
				plugin.NewExprField("expr", rec).Description("What to sort by."),
				plugin.NewBoolField("desc").Default(false).Description("Largest first."),
			).Description("The order, most significant first.").Fingerprint(),
			plugin.NewIntField("n").Description("How many rows to keep per partition, 1 to 1000.").Fingerprint(),
			plugin.NewStringField("rank_field").Optional().
				Description("The field of the output value holding the row number (1…n); also makes the continuous output keyed by `[partition…, number]`.").
				Example("rank_number"),
			plugin.NewObjectField("window",
				plugin.NewStringEnumField("type", "tumbling", "hopping", "attached").
					Description("`tumbling` (size), `hopping` (size, slide; size a multiple of slide) or `attached` (the window each record carries, set by a window operator upstream)."),
				plugin.NewDurationField("size").Optional().Description("Window length."),
				plugin.NewDurationField("slide").Optional().Description("Hopping: how far apart windows start."),
				plugin.NewDurationField("offset").Default("0s").Description("Shifts window starts from the epoch."),
			).Optional().Description("Top n per event-time window instead of continuously.").Fingerprint(),
		).
		Keyed("partition_by").
		Outputs("late").
		Check(func(c *plugin.ParsedConfig) error {
			if obs, _ := c.FieldObjectList("order_by"); len(obs) == 0 {
				return plugin.FieldErrorf("order_by", "needs at least one {expr, desc}")
			}
			if n, _ := c.FieldInt("n"); n < 1 || n > 1000 {
				return plugin.FieldErrorf("n", "must be 1 to 1000, got %d", n)
			}
			if f, _ := c.FieldString("rank_field"); c.Contains("rank_field") && f == "" {
				return plugin.FieldErrorf("rank_field", "must not be empty (leave it out for no row number)")
			}
			if c.Contains("window") {
				return checkWindow(c)
			}
			return nil
		}).
		PreservesKey(func(c *plugin.ParsedConfig) bool {
			return c.Contains("window") || !c.Contains("rank_field")
		}).
		Changelog(func(c *plugin.ParsedConfig, in []plugin.Mode) (plugin.Mode, error) {
			if in[0] == plugin.Updating {
				return 0, errors.New("top_n needs an append input: it ranks rows as they arrive and cannot take one back")
			}
			if c.Contains("window") {
				return plugin.Append, nil
			}
			return plugin.Updating, nil
		}).
		Example("Nexmark q19: the ten highest bids of each auction", "name: q19\ntype: top_n\nfrom: bid\npartition_by: {auction: value.auction}\norder_by: [{expr: value.price, desc: true}]\nn: 10\nrank_field: rank_number").
		Example("The three most viewed pages per minute", "type: top_n\nfrom: page_counts\nwindow: {type: attached}\norder_by: [{expr: value.views, desc: true}, {expr: value.page}]\nn: 3\nrank_field: rank")
}

// New builds a top_n from its parsed configuration.
func New(c *plugin.ParsedConfig, res *plugin.Resources) (operators.Operator, error) {
	t := &TopN{path: c.Path()}
	if res != nil && c.Contains("window") {
		t.late = lateCounter(res.Metrics, res.Name, res.Log)
	}
	if t.path == "" {
		t.path = "top_n"
	}
	parts, err := c.FieldExprMap("partition_by")
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		t.partition = append(t.partition, p.Expr)
	}
	obs, err := c.FieldObjectList("order_by")
	if err != nil {
		return nil, err
	}
	for _, o := range obs {
		x, err := o.FieldExpr("expr")
		if err != nil {
			return nil, err
		}
		desc, err := o.FieldBool("desc")
		if err != nil {
			return nil, err
		}
		t.order = append(t.order, orderBy{expr: x, desc: desc})
	}
	if t.n, err = c.FieldInt("n"); err != nil {
		return nil, err
	}
	if c.Contains("rank_field") {
		if t.rankField, err = c.FieldString("rank_field"); err != nil {
			return nil, err
		}
	}
	if c.Contains("window") {
		w, err := c.FieldObject("window")
		if err != nil {
			return nil, err
		}
		if t.win, err = parseWindow(w); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// lateCounter is operator's late-records counter in reg (nil: not
// exported); a registry whose name is taken by something else is logged
// and the counter is not exported.
func lateCounter(reg prometheus.Registerer, operator string, log *zap.Logger) prometheus.Counter {
	c, err := opmetrics.LateRecords(reg, operator)
	if err != nil {
		if log != nil {
			log.Warn("top_n: the late-records counter is not exported", zap.Error(err))
		}
		c, _ = opmetrics.LateRecords(nil, operator)
	}
	return c
}
