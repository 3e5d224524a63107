package source_test

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/source"
)

// TestGraphSource: a job graph's source decodes JSON values once into
// Record.Data, sets the key and the event time from its expressions
// (a string read with event_time.format; a missing time keeps the Kafka
// timestamp), rejects values that are not JSON and keys that fail as
// dead letters naming the source, and ends with stop_at: end.
func TestGraphSource(t *testing.T) {
	e := newEnv(t)
	e.createTopic("in", 1)
	e.produce(
		rec("in", 0, 1, `{"user": "ann", "t": "2023-11-14 22:13:20.500", "n": 7}`),
		rec("in", 0, 2, `{"user": "bob", broken`),
		rec("in", 0, 3, `5`),
		rec("in", 0, 4, `{"user": "cid"}`),
	)
	cfg, err := config.Parse("job.yaml", []byte(`job: {name: g}
kafka: {brokers: ["x:9092"]}
checkpoint: {storage: "file:///tmp/chk"}
sources:
  - name: events
    topics: [in]
    key: value.user
    event_time: {expr: value.t, format: sql}
    stop_at: end
sinks:
  - {name: out, from: events, topic: out}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ex, ps := cfg.CompileSource(0)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	src := source.NewGraphKafka(source.GraphSource{Config: cfg.Sources[0], Key: ex.Key, EventTime: ex.EventTime, Job: "g"},
		e.base, 0, 1, zaptest.NewLogger(t), source.WithClock(e.clock.Now))
	t.Cleanup(func() { _ = src.Close() })
	if err := src.Open(e.ctx, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	var rejected []string
	deadline := time.Now().Add(10 * time.Second)
	for !src.Ended() {
		if time.Now().After(deadline) {
			t.Fatalf("source did not end; read %v", got)
		}
		recs, _ := e.pollFor(src, 100*time.Millisecond)
		for _, r := range recs {
			m, ok := r.Data.(map[string]any)
			if !ok {
				t.Fatalf("record %d: Data %T, want a decoded object", r.Offset, r.Data)
			}
			got = append(got, string(r.Key)+"@"+time.UnixMilli(r.Timestamp).UTC().Format("15:04:05.000"))
			if r.Offset == 0 && m["n"] != int64(7) {
				t.Errorf("n = %#v, want int64 7", m["n"])
			}
		}
		for _, d := range src.TakeRejects() {
			if d.Operator != "events" {
				t.Errorf("dead letter names %q, want the source", d.Operator)
			}
			rejected = append(rejected, d.Reason)
		}
	}
	if want := []string{"ann@22:13:20.500", "cid@00:00:00.004"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("read %v, want %v", got, want)
	}
	if len(rejected) != 2 || !strings.Contains(rejected[0], "source events (format json): the value is not JSON") ||
		!strings.Contains(rejected[1], "source events: key:") {
		t.Errorf("rejected %q", rejected)
	}
}
