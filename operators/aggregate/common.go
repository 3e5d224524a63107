package aggregate

import (
	"fmt"
	"strconv"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// common is what both kinds of aggregate share: the configuration, the
// evaluation of a record's inputs, accumulator encoding and output rows.
type common struct {
	cfg     *config
	name    string
	reject  func(operators.Record, error)
	env     expression.Env
	needEnv bool // some aggregate has an expr or a filter
	dec     json.Decoder
	// vals and pass are the current record's inputs: the value of each
	// aggregate's expr, and whether its filter passed.
	vals []any
	pass []bool
	enc  []byte
	// distinct holds, per aggregate, its count_distinct entries (nil for
	// other functions).
	distinct []*state.Map[[]byte, int64]
	// fields is the output's field order.
	fields []string
	// accPool holds accumulators to reuse (takeAcc, giveAcc).
	accPool []*acc
}

func (c *common) open(oc operators.OpenContext, cfg *config) {
	c.cfg, c.name, c.reject = cfg, oc.Name, oc.Reject
	if c.reject == nil {
		c.reject = func(operators.Record, error) {}
	}
	n := len(cfg.aggs)
	c.vals, c.pass = make([]any, n), make([]bool, n)
	c.distinct = make([]*state.Map[[]byte, int64], n)
	for i, d := range cfg.aggs {
		if d.expr != nil || d.filter != nil {
			c.needEnv = true
		}
		if d.fn == fnCountDistinct {
			c.distinct[i] = state.NewMap(oc.State, oc.Name, "distinct."+d.name, state.Bytes{}, state.Int64{})
		}
	}
	c.fields = cfg.fields()
}

// Fields returns the names of the output row's fields in order: group_by,
// window bounds, aggregates (the order a sink writes them in).
func (c *common) Fields() []string { return append([]string(nil), c.fields...) }

// eval evaluates the aggregates' filters and inputs over r into c.vals
// and c.pass.
func (c *common) eval(r *operators.Record) error {
	if !c.needEnv {
		for i := range c.pass {
			c.vals[i], c.pass[i] = nil, true
		}
		return nil
	}
	c.env.SetRecord(r)
	for i := range c.cfg.aggs {
		d := &c.cfg.aggs[i]
		c.vals[i], c.pass[i] = nil, true
		if d.filter != nil {
			ok, err := d.filter.EvalBool(&c.env)
			if err != nil {
				return err
			}
			if c.pass[i] = ok; !ok {
				continue
			}
		}
		if d.expr != nil {
			v, err := d.expr.Eval(&c.env)
			if err != nil {
				return err
			}
			c.vals[i] = normNumber(v)
		}
	}
	return nil
}

// group evaluates the group_by values of r.
func (c *common) group(r *operators.Record) ([]any, error) {
	if len(c.cfg.groupBy) == 0 {
		return nil, nil
	}
	c.env.SetRecord(r)
	out := make([]any, len(c.cfg.groupBy))
	for i, g := range c.cfg.groupBy {
		v, err := g.Expr.Eval(&c.env)
		if err != nil {
			return nil, err
		}
		out[i] = normNumber(v)
	}
	return out, nil
}

// check says whether the record's inputs can be added to a.
func (c *common) check(a *acc) error {
	for i := range c.cfg.aggs {
		if !c.pass[i] {
			continue
		}
		if err := c.cfg.aggs[i].check(&a.aggs[i], c.vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// distinctKey appends the key of count_distinct entry v of aggregate i to
// the deltas' key space: the aggregate's index, then the value.
func distinctKey(dst []byte, i int, v any) ([]byte, error) {
	dst = append(dst[:0], byte(i>>8), byte(i))
	return appendDistinct(dst, v)
}

// row builds a's output row (w nil: no window fields).
func (c *common) row(a *acc, w *window) map[string]any {
	m := make(map[string]any, len(c.fields))
	if a.group == nil && len(a.groupRaw) > 0 {
		g, err := decodeGroup(a.groupRaw, &c.dec)
		if err != nil {
			// The accumulator decoded, so its bytes are sound: only a bug
			// gets here. The row goes out without its group fields.
			g = nil
		}
		a.group = g
	}
	for i, g := range c.cfg.groupBy {
		if i < len(a.group) {
			m[g.Name] = a.group[i]
		}
	}
	if w != nil {
		if c.cfg.startField != "" {
			m[c.cfg.startField] = w.start
		}
		if c.cfg.endField != "" {
			m[c.cfg.endField] = w.end
		}
	}
	for i := range c.cfg.aggs {
		d := &c.cfg.aggs[i]
		m[d.name] = d.result(&a.aggs[i])
	}
	return m
}

// accCodec stores accumulators (state.Codec).
type accCodec struct{ c *common }

func (ac accCodec) Encode(a *acc) ([]byte, error) {
	var err error
	ac.c.enc, err = encodeAcc(ac.c.enc[:0], a, ac.c.cfg.aggs)
	return ac.c.enc, err
}

func (ac accCodec) Decode(b []byte) (*acc, error) {
	a := ac.c.takeAcc()
	err := decodeAcc(b, a, ac.c.cfg.aggs, &ac.c.dec)
	return a, err
}

// takeAcc returns an empty accumulator, reusing one given back with
// giveAcc.
func (c *common) takeAcc() *acc {
	n := len(c.accPool)
	if n == 0 {
		return newAcc(len(c.cfg.aggs))
	}
	a := c.accPool[n-1]
	c.accPool = c.accPool[:n-1]
	clear(a.aggs)
	*a = acc{aggs: a.aggs, groupRaw: a.groupRaw[:0]}
	return a
}

// giveAcc gives back an accumulator nothing refers to any more.
func (c *common) giveAcc(a *acc) { c.accPool = append(c.accPool, a) }

// watermarkKey returns a key whose key group the backend holds, under
// which the operator keeps its watermark: the same one for the same key
// groups, so a restore finds it.
func watermarkKey(b *state.Backend) []byte {
	r := b.KeyGroups()
	for i := 0; ; i++ {
		k := []byte("watermark-" + strconv.Itoa(i))
		if r.Contains(state.KeyGroup(k, b.MaxParallelism())) {
			return k
		}
	}
}

// errAppendOnly is the reason a retraction reaches an operator that
// cannot take it back.
func errAppendOnly(what string, k operators.Kind) error {
	return fmt.Errorf("%s needs an append input, got a %s record (the planner refuses such a job: is the input an updating stream?)", what, k)
}
