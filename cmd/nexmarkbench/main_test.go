package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const benchOutput = `goos: linux
goarch: amd64
pkg: github.com/tidemark/tidemark/format/json
cpu: Some CPU
BenchmarkDecode/bid-2         	  500000	      2100 ns/op	     900 B/op	      20 allocs/op
BenchmarkEncode-2             	 1000000	       850.5 ns/op	       0 B/op	       0 allocs/op
PASS
ok  	github.com/tidemark/tidemark/format/json	3.1s
BenchmarkFilter-2   	 2000000	       300 ns/op	      16 B/op	       1 allocs/op	       3.3 Mrecords/s
PASS
ok  	github.com/tidemark/tidemark/operators/builtin	2.0s
`

func TestParseBench(t *testing.T) {
	lines, err := parseBench(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines: %+v", len(lines), lines)
	}
	want := []struct {
		pkg, name string
		n         int64
		allocs    float64
	}{
		{"github.com/tidemark/tidemark/format/json", "BenchmarkDecode/bid", 500000, 20},
		{"github.com/tidemark/tidemark/format/json", "BenchmarkEncode", 1000000, 0},
		{"github.com/tidemark/tidemark/operators/builtin", "BenchmarkFilter", 2000000, 1},
	}
	for i, w := range want {
		l := lines[i]
		if l.pkg != w.pkg || l.name != w.name || l.n != w.n || l.metrics["allocs/op"] != w.allocs {
			t.Errorf("line %d: %+v, want %+v", i, l, w)
		}
	}
	if lines[1].metrics["ns/op"] != 850.5 || lines[2].metrics["Mrecords/s"] != 3.3 {
		t.Errorf("metrics %v, %v", lines[1].metrics, lines[2].metrics)
	}
	if _, err := parseBench(strings.NewReader("BenchmarkX-2 10 abc ns/op\n")); err == nil {
		t.Error("a bad number was accepted")
	}
}

func TestReport(t *testing.T) {
	lines, err := parseBench(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatal(err)
	}
	o := options{events: 1000, partitions: 4, parallelism: 2, rounds: 2, markdown: true}
	rs := []result{
		{name: "raw", round: 1, events: 1000, wall: time.Second, cpu: 500 * time.Millisecond, output: 1000},
		{name: "q0", round: 1, events: 1000, wall: 2 * time.Second, cpu: time.Second, output: 920, checked: " (checked)"},
		{name: "raw", round: 2, events: 1000, wall: time.Second, cpu: 500 * time.Millisecond, output: 1000},
		{name: "q0", round: 2, events: 1000, wall: 4 * time.Second, cpu: time.Second, output: 920, checked: " (checked)"},
	}
	var buf bytes.Buffer
	report(&buf, o, rs, lines)
	out := buf.String()
	for _, want := range []string{
		"| raw | franz-go consume→produce | 1 K | 1.00 | 2 K | 1.00 | 1s | 500ms | 1000 | - |",
		"| q0 | configs/nexmark/q0.yaml | 375 | 0.38 | 1 K | 0.50 | 3s | 1s | 920 | yes |",
		"| package | benchmark | ns/op | B/op | allocs/op | Mrecords/s |",
		"| operators/builtin | Filter | 300 | 16 | 1 | 3.3 |",
		"| format/json | Encode | 850 | 0 | 0 | - |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-brokers", "a:1,b:2", "-queries", "q5,q0", "-events", "10"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(o.brokers) != "[a:1 b:2]" || fmt.Sprint(o.queries) != "[q5 q0]" || o.events != 10 || !o.check || !o.allocs {
		t.Errorf("options %+v", o)
	}
	if o, err := parseFlags([]string{"-brokers", "a:1", "-queries", "none"}); err != nil || len(o.queries) != 0 {
		t.Errorf("-queries none: %v, %v", o.queries, err)
	}
	for _, bad := range [][]string{
		{"-brokers", "a:1", "-queries", "q6"},
		{"-brokers", "a:1", "-queries", "q0,q0"},
		{"-brokers", "a:1", "-events", "0"},
		{"-brokers", "a:1", "-allocs-skip", "("},
		{"-brokers", "a:1", "extra"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
	t.Setenv(envBrokers, "")
	if _, err := parseFlags(nil); err == nil || !strings.Contains(err.Error(), "no broker") {
		t.Errorf("no broker: %v", err)
	}
}

// TestRawPipe pipes a topic's records, a transaction's marker at the end of
// a partition included, on an in-process broker.
func TestRawPipe(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in", "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("in"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 1000 {
		recs = append(recs, &kgo.Record{Partition: int32(i % 2), Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	n, err := rawPipe(ctx, c.ListenAddrs(), "in", "out", 2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1000 {
		t.Fatalf("piped %d records, want 1000", n)
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := map[string]string{}
	for len(seen) < 1000 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 1000", len(seen))
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Key)] = string(r.Value) })
	}
	for i := range 1000 {
		if seen[fmt.Sprintf("k%d", i)] != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%d: %q", i, seen[fmt.Sprintf("k%d", i)])
		}
	}
}
