package builtin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/builtin"
)

type collect []operators.Record

func (c *collect) Emit(r operators.Record) { *c = append(*c, r) }

// TestKeyByRejectsValuesThatAreNoKey: a string or a number becomes the key;
// null, a missing field, true/false, an object or a list go to the
// dead-letter output with a reason naming the field, never as the key "".
func TestKeyByRejectsValuesThatAreNoKey(t *testing.T) {
	k := &builtin.KeyBy{Field: "user"}
	rejected := map[string]string{} // value -> reason
	err := k.Open(context.Background(), operators.OpenContext{Reject: func(r operators.Record, reason error) {
		rejected[string(r.Value)] = reason.Error()
	}})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{
		`{"user":"ann"}`:  "ann",
		`{"user":""}`:     "",
		`{"user":42}`:     "42",
		`{"user":-1.5e3}`: "-1.5e3",
	}
	bad := map[string]string{
		`{"user":null}`:      `field "user" is null`,
		`{ "user" : null }`:  `field "user" is null`,
		`{"page":"/"}`:       `no field "user"`,
		`{"user":true}`:      `field "user" is neither`,
		`{"user":{"id":1}}`:  `field "user" is neither`,
		`{"user":["a"]}`:     `field "user" is neither`,
		`not json`:           "not a JSON object",
		`["user","x"]`:       "not a JSON object",
		`{"User":"ann"}`:     `no field "user"`,
		`{"user":"a","x":1,`: "not a JSON object",
	}
	var recs []operators.Record
	for v := range keys {
		recs = append(recs, operators.Record{Key: []byte("orig"), Value: []byte(v)})
	}
	for v := range bad {
		recs = append(recs, operators.Record{Key: []byte("orig"), Value: []byte(v)})
	}
	var out collect
	if err := k.Process(context.Background(), recs, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(keys) {
		t.Errorf("emitted %d records, want %d: %+v", len(out), len(keys), out)
	}
	for _, r := range out {
		if want, ok := keys[string(r.Value)]; !ok || string(r.Key) != want {
			t.Errorf("value %s keyed %q, want %q (emitted: %v)", r.Value, r.Key, want, ok)
		}
	}
	for v, reason := range bad {
		if got, ok := rejected[v]; !ok || !strings.Contains(got, reason) {
			t.Errorf("value %s: rejected %v with %q, want a reason containing %q", v, ok, got, reason)
		}
	}
}
