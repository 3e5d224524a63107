package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// KeyBy sets each record's key: to the result of the expression Key
// (design §2.2: a string as it is, a number in decimal, a list as JSON
// text), or, when Key is nil, to the value of the top-level JSON field
// Field (the legacy form: a string as it is, a number in its JSON text).
// In the legacy form a record that is not a JSON object, lacks the field,
// or holds anything else in it (null, true/false, an object, a list) is
// rejected to the dead-letter output with a reason naming the field; with
// Key, a failing expression is. It never stops the job. An empty string
// is a key like any other.
//
// The runner puts KeyBy in the source tasks, before the key exchange, so
// that the operators after it keep state by the new key.
type KeyBy struct {
	operators.Base
	Field string
	// Key, when set, computes the key instead of Field: one expression,
	// or several for a composite key (the JSON list of their values).
	Key []*plugin.Expr

	env    expression.Env
	vals   []any
	reject func(operators.Record, error)
}

// Open implements operators.Operator.
func (k *KeyBy) Open(_ context.Context, oc operators.OpenContext) error {
	k.reject = rejecter(oc)
	return nil
}

// Process implements operators.Operator.
func (k *KeyBy) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for i := range recs {
		r := recs[i]
		var key []byte
		var err error
		switch {
		case len(k.Key) > 0:
			k.env.SetRecord(&recs[i])
			key, err = k.exprKey()
		case r.Value != nil:
			// The bytes as read: a number keeps its JSON text (1.0, -1.5e3),
			// so keys, and the key groups of existing state, stay as they were.
			key, err = k.key(r.Value)
		default:
			key, err = k.dataKey(r.Data)
		}
		if err != nil {
			k.reject(r, err)
			continue
		}
		r.Key = key
		out.Emit(r)
	}
	return nil
}

// exprKey evaluates Key over the record in k.env.
func (k *KeyBy) exprKey() ([]byte, error) {
	if len(k.Key) == 1 {
		return k.Key[0].EvalKey(&k.env, nil)
	}
	k.vals = k.vals[:0]
	for _, e := range k.Key {
		v, err := e.Eval(&k.env)
		if err != nil {
			return nil, err
		}
		k.vals = append(k.vals, v)
	}
	key, err := expression.AppendKey(nil, k.vals)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	return key, nil
}

// dataKey is key over a value decoded without its bytes.
func (k *KeyBy) dataKey(data any) ([]byte, error) {
	obj, ok := data.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("value is not a JSON object: %s", describeValue(data))
	}
	v, ok := obj[k.Field]
	switch x := v.(type) {
	case nil:
		if !ok {
			return nil, fmt.Errorf("value has no field %q", k.Field)
		}
		return nil, fmt.Errorf("field %q is null, not a string or a number", k.Field)
	case string, int64, float64:
		key, err := expression.AppendKey(nil, x)
		if key == nil && err == nil {
			key = []byte{}
		}
		return key, err
	}
	b, _ := json.Marshal(v)
	return nil, fmt.Errorf("field %q is neither a string nor a number: %s", k.Field, b)
}

func (k *KeyBy) key(value []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil {
		return nil, fmt.Errorf("value is not a JSON object: %w", err)
	}
	raw, ok := obj[k.Field]
	if !ok {
		return nil, fmt.Errorf("value has no field %q", k.Field)
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		// json.Unmarshal takes null as "leave it alone": it would be
		// the empty key.
		return nil, fmt.Errorf("field %q is null, not a string or a number", k.Field)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []byte(s), nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if _, err := strconv.ParseFloat(n.String(), 64); err == nil {
			return []byte(n.String()), nil
		}
	}
	return nil, fmt.Errorf("field %q is neither a string nor a number: %s", k.Field, raw)
}
