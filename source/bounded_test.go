package source_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/source"
)

// TestStopAtEnd: a bounded source reads each partition up to the end
// found at Open, transaction markers included, then reports Ended; what
// is written later is not read.
func TestStopAtEnd(t *testing.T) {
	e := newEnv(t)
	e.createTopic("in", 2)
	e.produce(rec("in", 0, 1, "a"), rec("in", 0, 2, "b"), rec("in", 1, 3, "c"))
	// A committed transaction: its marker is the partition's last entry.
	tx, err := kgo.NewClient(append(e.base, kgo.TransactionalID("tx"), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(e.ctx, rec("in", 1, 4, "d")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := tx.EndTransaction(e.ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	src := source.NewKafka(e.config("in"), e.base, 0, 1, zaptest.NewLogger(t), source.WithClock(e.clock.Now), source.WithStopAtEnd())
	t.Cleanup(func() { _ = src.Close() })
	if err := src.Open(e.ctx, nil); err != nil {
		t.Fatal(err)
	}
	e.produce(rec("in", 0, 5, "late"))
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for !src.Ended() {
		if time.Now().After(deadline) {
			t.Fatalf("source did not end; read %v, positions %v", got, src.Positions())
		}
		recs, _ := e.pollFor(src, 100*time.Millisecond)
		for _, r := range recs {
			got = append(got, string(r.Value))
		}
	}
	if len(got) != 4 {
		t.Errorf("read %v, want a, b, c, d", got)
	}
	want := []operators.Position{{Topic: "in", Partition: 0, Offset: 2}, {Topic: "in", Partition: 1, Offset: 3}}
	if ps := src.Positions(); len(ps) != 2 || ps[0] != want[0] || ps[1] != want[1] {
		t.Errorf("positions %v, want %v", ps, want)
	}
}

// TestIdleSource: a source without partitions is idle at once; one whose
// partitions all passed the idle timeout is idle until a record arrives.
func TestIdleSource(t *testing.T) {
	e := newEnv(t)
	e.createTopic("in", 1)
	none := e.config()
	none.Source.TopicRegex = "nothing-.*"
	empty := e.open(none, 0, 1, nil)
	if !empty.Idle() {
		t.Error("a source without partitions is not idle")
	}
	cfg := e.config("in")
	cfg.Source.Watermark.IdleTimeout = time.Second
	src := e.open(cfg, 0, 1, nil)
	if src.Idle() {
		t.Error("idle before the timeout")
	}
	e.clock.Advance(2 * time.Second)
	if !src.Idle() {
		t.Error("not idle after the timeout")
	}
	e.produce(rec("in", 0, 1, "a"))
	e.pollN(src, 1)
	if src.Idle() {
		t.Error("idle right after a record")
	}
}
