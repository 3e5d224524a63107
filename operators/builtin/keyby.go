package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tidemark/tidemark/operators"
)

// KeyBy decodes each record's value as a JSON object and makes the value of
// Field its key (a string as it is, a number in its JSON form). A record
// that is not a JSON object, lacks the field, or holds anything else in it
// (null, true/false, an object, a list) is rejected to the dead-letter
// output with a reason naming the field; it never stops the job. An empty
// string is a key like any other.
//
// The runner puts KeyBy in the source tasks, before the key exchange, so
// that the operators after it keep state by the new key.
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
