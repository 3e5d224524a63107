package source_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/source"
)

// TestConsumerLagPerPartition: the lag of each partition is its last
// stable offset minus where the source reads next: known from the end
// offsets the source lists as it assigns partitions, before the first
// fetch; zero once the source caught up; growing again when records
// arrive that it has not read (UpdateEndOffsets, without a fetch).
func TestConsumerLagPerPartition(t *testing.T) {
	e := newEnv(t)
	e.createTopic("in", 2)
	e.produce(rec("in", 0, 1, "a"), rec("in", 0, 2, "b"), rec("in", 0, 3, "c"), rec("in", 1, 4, "d"))
	reg := prometheus.NewPedanticRegistry()
	m, err := source.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config("in")
	cfg.Source.StartOffset = config.StartEarliest
	src := source.NewKafka(cfg, e.base, 0, 1, zaptest.NewLogger(t), source.WithClock(e.clock.Now), source.WithMetrics(m))
	t.Cleanup(func() { _ = src.Close() })
	if err := src.Open(e.ctx, []operators.Position{{Topic: "in", Partition: 0, Offset: 1}}); err != nil {
		t.Fatal(err)
	}
	lag := func(want string) {
		t.Helper()
		exp := `
# HELP tidemark_source_consumer_lag_records Records of a partition the source has not read yet: the partition's last stable offset minus the source's next offset, by source, topic and partition.
# TYPE tidemark_source_consumer_lag_records gauge
` + want
		if err := testutil.GatherAndCompare(reg, strings.NewReader(exp)); err != nil {
			t.Error(err)
		}
	}
	// Known at once: the source lists end offsets as it assigns.
	lag(`tidemark_source_consumer_lag_records{partition="0",source="source",topic="in"} 2
tidemark_source_consumer_lag_records{partition="1",source="source",topic="in"} 1
`)
	e.pollN(src, 3)
	lag(`tidemark_source_consumer_lag_records{partition="0",source="source",topic="in"} 0
tidemark_source_consumer_lag_records{partition="1",source="source",topic="in"} 0
`)
	e.produce(rec("in", 0, 5, "e"), rec("in", 0, 6, "f"))
	// Nothing fetched since: the end offsets asked for show the growth.
	if err := m.UpdateEndOffsets(e.ctx, e.adm); err != nil {
		t.Fatal(err)
	}
	lag(`tidemark_source_consumer_lag_records{partition="0",source="source",topic="in"} 2
tidemark_source_consumer_lag_records{partition="1",source="source",topic="in"} 0
`)
}
