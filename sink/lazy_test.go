package sink_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
)

// TestSinkWritesLazyValues: a sink writes a record whose value is lazy
// (format/json.Raw) exactly as it writes the decoded value: the same
// value text (with and without a field order, canonical text or not),
// key, topic and header from expressions, and the same dead letters.
func TestSinkWritesLazyValues(t *testing.T) {
	texts := []string{
		`{"auction":1107,"bidder":2031,"price":18870,"dateTime":"2025-03-01 10:00:01.123","extra":"a\\b"}`,
		`{"a":1,"b":[1,2.50,{"y":1,"x":2}],"c":{"z":null,"a":true}}`, `{ "b" : 1 , "a" : 1.0 , "b" : 2 }`,
		`[1,"x",{"b":1,"a":2}]`, `{}`, `{"dest":"t2","k":{"x":1}}`,
	}
	specs := []sink.Spec{
		{Topic: "out"},
		{Topic: "out", FieldOrder: []string{"price", "b", "auction"}},
		{Topic: "out", Key: "value.k", Headers: map[string]string{"h": "value.a"}},
		{TopicExpr: "value.dest"},
		{Topic: "out", Value: "value.b"},
		{Topic: "out", Format: sink.FormatRaw},
		{Topic: "out", Mode: sink.ModeUpsert},
	}
	write := func(spec sink.Spec, text string, lazy bool) string {
		var d json.Decoder
		v, err := d.Decode([]byte(text))
		if lazy {
			v, err = d.Lazy([]byte(text))
			if _, ok := v.(json.Raw); !ok {
				t.Fatalf("%s: Lazy gave %T", text, v)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		spec.Name = "s"
		var f fakeCommitter
		var rejected []operators.DeadLetter
		k := openSink(t, spec, &f, &rejected)
		if err := k.Process(context.Background(), []operators.Record{rec("k", operators.Insert, v)}, nil); err != nil {
			return "error " + err.Error()
		}
		out := ""
		for _, r := range f.recs {
			out += fmt.Sprintf("topic %s key %s value %s headers %v; ", r.Topic, show(r.Key), show(r.Value), r.Headers)
		}
		for _, dl := range rejected {
			out += "dead letter " + dl.Reason + "; "
		}
		return out
	}
	for _, spec := range specs {
		for _, text := range texts {
			if want, got := write(spec, text, false), write(spec, text, true); want != got {
				t.Errorf("%+v, %s:\ndecoded: %s\nlazy:    %s", spec, text, want, got)
			}
		}
	}
}
