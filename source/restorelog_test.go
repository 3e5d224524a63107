package source_test

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/source"
)

// TestRestoreLogCountsOwnPartitions: every source task gets every restored
// position; its log says how many of its own partitions resume from one,
// not how many positions the checkpoint holds.
func TestRestoreLogCountsOwnPartitions(t *testing.T) {
	e := newEnv(t)
	e.createTopic("in", 4)
	var restored []operators.Position
	for p := range int32(4) {
		restored = append(restored, operators.Position{Topic: "in", Partition: p, Offset: 0})
	}
	cfg := e.config("in")
	const tasks = 2
	for task := range tasks {
		core, logs := observer.New(zap.InfoLevel)
		src := source.NewKafka(cfg, e.base, task, tasks, zap.New(core), source.WithClock(e.clock.Now))
		t.Cleanup(func() { _ = src.Close() })
		if err := src.Open(e.ctx, restored); err != nil {
			t.Fatal(err)
		}
		own := len(src.Positions())
		if own != 2 {
			t.Fatalf("task %d owns %d partitions, want 2", task, own)
		}
		entries := logs.FilterMessage("source partitions assigned").All()
		if len(entries) != 1 {
			t.Fatalf("task %d: %d assignment log lines, want 1", task, len(entries))
		}
		fields := entries[0].ContextMap()
		if fields["restored"] != int64(own) || fields["partitions"] != int64(own) {
			t.Errorf("task %d logged %v, want restored and partitions %d", task, fields, own)
		}
	}
}
