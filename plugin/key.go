package plugin

import (
	"strings"

	"github.com/tidemark/tidemark/expression"
)

// recordKey is the key of an operator keyed by the record key.
var recordKey = &Expr{prog: expression.MustCompile("key", expression.RecordContext)}

// Key is the key of one input of a keyed operator: the expressions of the
// field its spec names in Keyed, or the record key.
type Key struct {
	exprs     []*Expr
	composite bool
}

// Key returns the key of input i (from 0) of a keyed operator; nil if
// the operator is not keyed or has no input i.
func (c *ParsedConfig) Key(i int) *Key {
	if !c.Keyed() || i < 0 || c.spec.inputs != AnyInputs && i >= c.spec.inputs {
		return nil
	}
	fields := c.spec.keyFields
	if len(fields) == 0 {
		return &Key{exprs: []*Expr{recordKey}}
	}
	field := fields[0]
	if len(fields) > 1 {
		field = fields[i]
	}
	v, _, err := c.lookup(strings.Split(field, "."))
	if err != nil { // an optional key field left out
		return &Key{exprs: []*Expr{recordKey}}
	}
	switch x := v.(type) {
	case *Expr:
		return &Key{exprs: []*Expr{x}}
	case []*Expr:
		return &Key{exprs: x, composite: len(x) != 1}
	case []NamedExpr:
		k := &Key{composite: len(x) != 1}
		for _, e := range x {
			k.exprs = append(k.exprs, e.Expr)
		}
		return k
	}
	return nil // validate refuses other kinds
}

// IsRecordKey reports whether the key is exactly the record key as it
// arrives (the expression `key`), so that records partitioned by their
// key need no exchange.
func (k *Key) IsRecordKey() bool {
	return !k.composite && len(k.exprs) == 1 && strings.TrimSpace(k.exprs[0].Source()) == "key"
}

// Exprs returns the key's expressions (one for a single key).
func (k *Key) Exprs() []*Expr { return append([]*Expr(nil), k.exprs...) }

// Append evaluates the key over env's record and appends it to dst as
// record key bytes (design §2.2: a composite key is the JSON list of its
// values). An error is an *ExprError.
func (k *Key) Append(env *expression.Env, dst []byte) ([]byte, error) {
	if !k.composite {
		return k.exprs[0].EvalKey(env, dst)
	}
	vals := make([]any, len(k.exprs))
	for i, e := range k.exprs {
		v, err := e.Eval(env)
		if err != nil {
			return dst, err
		}
		vals[i] = v
	}
	out, err := expression.AppendKey(dst, vals)
	if err != nil && len(k.exprs) > 0 {
		return dst, k.exprs[0].wrap(err)
	}
	if err != nil {
		return dst, err
	}
	return out, nil
}

// String returns the key's text: the expression, or the list of them
// ("[value.bidder, value.auction]").
func (k *Key) String() string {
	if !k.composite {
		return k.exprs[0].Source()
	}
	s := make([]string, len(k.exprs))
	for i, e := range k.exprs {
		s[i] = e.Source()
	}
	return "[" + strings.Join(s, ", ") + "]"
}
