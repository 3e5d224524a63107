package sink_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
)

// fakeCommitter keeps what sinks write, for tests of encoding and routing
// that need no broker.
type fakeCommitter struct {
	recs []operators.SinkRecord
	dls  []operators.DeadLetter
}

func (f *fakeCommitter) Write(_ context.Context, recs []operators.SinkRecord) error {
	f.recs = append(f.recs, recs...)
	return nil
}

func (f *fakeCommitter) DeadLetters(_ context.Context, dls []operators.DeadLetter) error {
	f.dls = append(f.dls, dls...)
	return nil
}
func (f *fakeCommitter) PreCommit(context.Context, int64) error                { return nil }
func (f *fakeCommitter) PendingTransactions() []operators.Transaction          { return nil }
func (f *fakeCommitter) NotifyCheckpointComplete(context.Context, int64) error { return nil }
func (f *fakeCommitter) Close() error                                          { return nil }

// openSink compiles spec and opens it on c; rejected collects what it
// sends to OpenContext.Reject (nil: it writes dead letters to c itself).
func openSink(t *testing.T, spec sink.Spec, c operators.TaskCommitter, rejected *[]operators.DeadLetter) *sink.KafkaSink {
	t.Helper()
	k, err := sink.NewKafkaSink(spec)
	if err != nil {
		t.Fatal(err)
	}
	oc := operators.OpenContext{Name: spec.Name, Committer: c}
	if rejected != nil {
		oc.Reject = func(r operators.Record, reason error) {
			*rejected = append(*rejected, operators.DeadLetter{Record: r, Operator: spec.Name, Reason: reason.Error()})
		}
	}
	if err := k.Open(context.Background(), oc); err != nil {
		t.Fatal(err)
	}
	return k
}

func rec(key string, kind operators.Kind, data any) operators.Record {
	return operators.Record{Key: []byte(key), Kind: kind, Data: data, Timestamp: 1000, Topic: "in", Partition: 3, Offset: 42}
}

func obj(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func show(v []byte) string {
	if v == nil {
		return "<null>"
	}
	return string(v)
}

// TestSinkEncoding: what a sink node makes of records, per setting.
func TestSinkEncoding(t *testing.T) {
	row := obj("b", int64(1), "a", "x", "c", true, "n", obj("z", 1.5, "y", nil))
	cases := []struct {
		name string
		spec sink.Spec
		in   operators.Record
		// want is "topic key value ts headers"
		want string
	}{
		{"json in declared order, nested sorted", sink.Spec{Topic: "out", FieldOrder: []string{"c", "b", "missing"}}, rec("k", operators.Insert, row),
			`out k {"c":true,"b":1,"a":"x","n":{"y":null,"z":1.5}} 1000 []`},
		{"json without order: sorted", sink.Spec{Topic: "out"}, rec("k", operators.Insert, row),
			`out k {"a":"x","b":1,"c":true,"n":{"y":null,"z":1.5}} 1000 []`},
		{"never decoded: byte for byte", sink.Spec{Topic: "out"}, operators.Record{Key: []byte("k"), Value: []byte(`{ "raw" : 1 }`)},
			`out k { "raw" : 1 } 0 []`},
		{"decoded is authoritative", sink.Spec{Topic: "out"}, operators.Record{Key: []byte("k"), Value: []byte(`stale`), Data: obj("a", int64(2))},
			`out k {"a":2} 0 []`},
		{"json string", sink.Spec{Topic: "out", Value: "value.a"}, rec("k", operators.Insert, row), `out k "x" 1000 []`},
		{"raw string", sink.Spec{Topic: "out", Format: sink.FormatRaw, Value: "value.a + '!'"}, rec("k", operators.Insert, row), `out k x! 1000 []`},
		{"raw never decoded", sink.Spec{Topic: "out", Format: sink.FormatRaw}, operators.Record{Key: []byte("k"), Value: []byte("bytes")}, `out k bytes 0 []`},
		{"key, value, timestamp, headers by expression",
			sink.Spec{Topic: "out", Key: "[value.a, value.b]", Value: "{'sum': value.b + 1}", Timestamp: "timestamp + 5",
				Headers: map[string]string{"h1": "upper(value.a)", "h2": "value.b", "gone": "value.nothing"}},
			rec("k", operators.Insert, row), `out ["x",1] {"sum":2} 1005 [h1=X h2=1]`},
		{"input headers kept", sink.Spec{Topic: "out"},
			operators.Record{Key: []byte("k"), Value: []byte("v"), Headers: []operators.Header{{Key: "trace", Value: []byte("t1")}}}, `out k v 0 [trace=t1]`},
		{"topic by expression", sink.Spec{TopicExpr: "'t-' + value.a"}, rec("k", operators.Insert, row), `t-x k {"a":"x","b":1,"c":true,"n":{"y":null,"z":1.5}} 1000 []`},
		{"upsert insert", sink.Spec{Topic: "out", Mode: sink.ModeUpsert}, rec("g1", operators.Insert, obj("n", int64(1))), `out g1 {"n":1} 1000 []`},
		{"upsert update-after", sink.Spec{Topic: "out", Mode: sink.ModeUpsert}, rec("g1", operators.UpdateAfter, obj("n", int64(2))), `out g1 {"n":2} 1000 []`},
		{"upsert delete: tombstone", sink.Spec{Topic: "out", Mode: sink.ModeUpsert, Value: "value.n"}, rec("g1", operators.Delete, obj("n", int64(2))), `out g1 <null> 1000 []`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.spec.Name = "s"
			var f fakeCommitter
			k := openSink(t, c.spec, &f, nil)
			if err := k.Process(context.Background(), []operators.Record{c.in}, nil); err != nil {
				t.Fatal(err)
			}
			if len(f.dls) > 0 || len(f.recs) != 1 {
				t.Fatalf("wrote %d records, %d dead letters (%+v)", len(f.recs), len(f.dls), f.dls)
			}
			r := f.recs[0]
			var hs []string
			for _, h := range r.Headers {
				hs = append(hs, h.Key+"="+string(h.Value))
			}
			got := fmt.Sprintf("%s %s %s %d %v", r.Topic, r.Key, show(r.Value), r.Timestamp, hs)
			if got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if r.Sink != "s" || r.Source.Topic != c.in.Topic || r.Source.Offset != c.in.Offset {
				t.Errorf("sink %q, source %+v: not the sink's name and the record's position", r.Sink, r.Source)
			}
		})
	}
}

// TestUpsertDropsUpdateBefore: an upsert sink writes nothing for an
// update-before (the update-after that follows replaces the row).
func TestUpsertDropsUpdateBefore(t *testing.T) {
	var f fakeCommitter
	k := openSink(t, sink.Spec{Name: "s", Topic: "out", Mode: sink.ModeUpsert}, &f, nil)
	in := []operators.Record{
		rec("g", operators.Insert, obj("n", int64(1))),
		rec("g", operators.UpdateBefore, obj("n", int64(1))),
		rec("g", operators.UpdateAfter, obj("n", int64(2))),
	}
	if err := k.Process(context.Background(), in, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range f.recs {
		got = append(got, string(r.Key)+"="+show(r.Value))
	}
	if fmt.Sprint(got) != `[g={"n":1} g={"n":2}]` {
		t.Errorf("wrote %v", got)
	}
}

// TestAppendRefusesUpdates: an append sink fed an updating stream (which
// validation refuses) stops with an error saying what to set.
func TestAppendRefusesUpdates(t *testing.T) {
	var f fakeCommitter
	k := openSink(t, sink.Spec{Name: "s", Topic: "out"}, &f, nil)
	err := k.Process(context.Background(), []operators.Record{rec("g", operators.Delete, nil)}, nil)
	if err == nil || !strings.Contains(err.Error(), "set mode: upsert") || !strings.Contains(err.Error(), "in[3] offset 42") {
		t.Fatalf("Process = %v, want an error naming the record and the remedy", err)
	}
}

// TestSinkRecordErrorsAreDeadLetters: a record whose topic, key, value,
// timestamp or header cannot be computed goes to the dead letters with
// the reason (through OpenContext.Reject), naming the sink and the
// setting; the other records are written.
func TestSinkRecordErrorsAreDeadLetters(t *testing.T) {
	cases := []struct {
		name      string
		spec      sink.Spec
		good, bad any
		want      []string // in the reason
	}{
		{"topic not a string", sink.Spec{TopicExpr: "value.dest"}, obj("dest", "t"), obj("dest", int64(5)), []string{`topic_expr "value.dest" gave the number 5`, "want a topic name"}},
		{"topic null", sink.Spec{TopicExpr: "value.dest"}, obj("dest", "t"), obj(), []string{`topic_expr "value.dest" gave null`}},
		{"topic empty", sink.Spec{TopicExpr: "value.dest"}, obj("dest", "t"), obj("dest", ""), []string{`gave the string ""`}},
		{"topic expression fails", sink.Spec{TopicExpr: "'t-' + value.dest"}, obj("dest", "t"), obj("dest", int64(5)), []string{`topic_expr "'t-' + value.dest": 1:`}},
		{"key expression fails", sink.Spec{Topic: "out", Key: "value.g.h"}, obj("g", obj("h", "k")), obj("g", int64(1)), []string{`key "value.g.h": `}},
		{"raw value not a string", sink.Spec{Topic: "out", Format: sink.FormatRaw}, "raw", obj("a", int64(1)), []string{"format raw writes a string or bytes value, got an object"}},
		{"timestamp not a number", sink.Spec{Topic: "out", Timestamp: "value.t"}, obj("t", int64(7)), obj("t", "soon"), []string{`timestamp "value.t" gave the string "soon"`}},
		{"timestamp negative", sink.Spec{Topic: "out", Timestamp: "value.t - 10"}, obj("t", int64(70)), obj("t", int64(7)), []string{"gave -3", "not negative"}},
		{"header fails", sink.Spec{Topic: "out", Headers: map[string]string{"h": "value.x + value.y"}}, obj("x", int64(1), "y", int64(2)), obj("x", int64(1), "y", "z"),
			[]string{`headers.h "value.x + value.y": 1:`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.spec.Name = "by-region"
			var f fakeCommitter
			var rejected []operators.DeadLetter
			k := openSink(t, c.spec, &f, &rejected)
			good, bad := rec("ok", operators.Insert, c.good), rec("bad", operators.Insert, c.bad)
			if err := k.Process(context.Background(), []operators.Record{good, bad}, nil); err != nil {
				t.Fatal(err)
			}
			if len(f.recs) != 1 || string(f.recs[0].Key) == "bad" {
				t.Errorf("wrote %d records, want only the good one", len(f.recs))
			}
			if len(rejected) != 1 || string(rejected[0].Record.Key) != "bad" || rejected[0].Record.Offset != 42 {
				t.Fatalf("rejected %+v, want the bad record", rejected)
			}
			reason := rejected[0].Reason
			for _, w := range append(c.want, "sink by-region: ") {
				if !strings.Contains(reason, w) {
					t.Errorf("reason %q lacks %q", reason, w)
				}
			}
			t.Log(reason)
		})
	}
}

// TestSinkSpecProblems: wrong settings are reported with their keys, all
// at once; an expression's error keeps its position.
func TestSinkSpecProblems(t *testing.T) {
	cases := []struct {
		spec sink.Spec
		want []string
	}{
		{sink.Spec{}, []string{"sinks[s].topic: is required"}},
		{sink.Spec{Topic: "a", TopicExpr: "'b'"}, []string{"sinks[s].topic: topic and topic_expr are both set"}},
		{sink.Spec{Topic: "a b"}, []string{"not a valid Kafka topic name"}},
		{sink.Spec{Topic: "a", Format: "avro", Mode: "retract"}, []string{"sinks[s].format: must be json or raw", "sinks[s].mode: must be append or upsert"}},
		{sink.Spec{Topic: "a", Mode: sink.ModeUpsert, Key: "value.id"}, []string{"sinks[s].key: mode upsert writes the record key"}},
		{sink.Spec{TopicExpr: "value.(", Value: "nope.x", Headers: map[string]string{"h": ""}},
			[]string{"sinks[s].topic_expr: 1:", "sinks[s].value: ", "sinks[s].headers.h: needs an expression"}},
	}
	for _, c := range cases {
		c.spec.Name = "s"
		_, err := sink.NewKafkaSink(c.spec)
		if err == nil {
			t.Errorf("%+v: accepted", c.spec)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %q lacks %q", c.spec, err, w)
			}
		}
		if ps := c.spec.Problems(); len(ps) != len(c.want) {
			t.Errorf("%+v: %d problems, want %d: %v", c.spec, len(ps), len(c.want), err)
		}
	}
	_, err := sink.NewKafkaSink(sink.Spec{Name: "s", TopicExpr: "value.a +"})
	var xe *expression.Error
	if !errors.As(err, &xe) || xe.Line != 1 || xe.Col == 0 {
		t.Errorf("compile error %v: want an *expression.Error with its position", err)
	}
	if _, err := sink.NewKafkaSink(sink.Spec{Name: "s", Topic: "a", Mode: sink.ModeUpsert, Key: "key"}); err != nil {
		t.Errorf("upsert with key: key (the record key): %v", err)
	}
}

// TestSinkNeedsCommitter: a sink node opened without a committer says so.
func TestSinkNeedsCommitter(t *testing.T) {
	k, err := sink.NewKafkaSink(sink.Spec{Name: "s", Topic: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Open(context.Background(), operators.OpenContext{}); err == nil || !strings.Contains(err.Error(), "no committer") {
		t.Errorf("Open without a committer = %v", err)
	}
}

// BenchmarkKafkaSink: a sink node encoding decoded rows as JSON in their
// declared order (the committer is a no-op).
func BenchmarkKafkaSink(b *testing.B) {
	k, err := sink.NewKafkaSink(sink.Spec{Name: "s", Topic: "out", FieldOrder: []string{"auction", "bidder", "price", "dateTime"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := k.Open(context.Background(), operators.OpenContext{Committer: &nopCommitter{}}); err != nil {
		b.Fatal(err)
	}
	recs := make([]operators.Record, 100)
	for i := range recs {
		recs[i] = rec("k", operators.Insert, obj("auction", int64(1000+i), "bidder", int64(7), "price", int64(123456),
			"dateTime", "2015-07-15 00:00:01.000", "channel", "Google", "url", "https://www.nexmark.com/abc/item.htm?query=1"))
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := k.Process(context.Background(), recs, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

type nopCommitter struct{ fakeCommitter }

func (*nopCommitter) Write(context.Context, []operators.SinkRecord) error { return nil }
