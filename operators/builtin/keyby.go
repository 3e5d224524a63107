package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tidemark/tidemark/operators"
)

// KeyBy decodes each record's value as a JSON object and makes the value of
// Field its key (a string as it is, a number in its JSON form). A record
// that is not a JSON object, or lacks the field, is rejected to the
// dead-letter output; it never stops the job.
//
// KeyBy runs in the keyed tasks, after the key exchange routed records by
// their original key; operators after it see the new key, but their state
// is still partitioned by the original one. Put it first and key the
// input topic by the same field when later operators keep state.
type KeyBy struct {
	operators.Base
	Field string

	reject func(operators.Record, error)
}

// Open implements operators.Operator.
func (k *KeyBy) Open(_ context.Context, oc operators.OpenContext) error {
	k.reject = oc.Reject
	return nil
}

// Process implements operators.Operator.
func (k *KeyBy) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for _, r := range recs {
		key, err := k.key(r.Value)
		if err != nil {
			k.reject(r, err)
			continue
		}
		r.Key = key
		out.Emit(r)
	}
	return nil
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
