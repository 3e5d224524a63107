package checkpoint_test

import (
	"reflect"
	"testing"

	"github.com/tidemark/tidemark/checkpoint"
)

// TestSinkPoolsByStage: a job graph's checkpoint records the pool of each
// sink-bearing stage (Sinks), a single-chain job's its one pool (Sink);
// SinkPools lists both, and both survive encoding.
func TestSinkPoolsByStage(t *testing.T) {
	m := &checkpoint.Metadata{Job: "j", CheckpointID: 4,
		Sinks: []checkpoint.SinkPool{
			{TransactionalIDPrefix: "tidemark-j", Stage: "counts", Tasks: 2, PoolSize: 8},
			{TransactionalIDPrefix: "tidemark-j", Stage: "source:events", Tasks: 2, PoolSize: 8},
		}}
	data, err := checkpoint.EncodeMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.DecodeMetadata(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.SinkPools(), m.Sinks) || got.Sink != nil {
		t.Errorf("pools %+v (sink %+v), want %+v", got.SinkPools(), got.Sink, m.Sinks)
	}
	legacy := &checkpoint.Metadata{Sink: &checkpoint.SinkPool{TransactionalIDPrefix: "p", Tasks: 2, PoolSize: 8}}
	if ps := legacy.SinkPools(); len(ps) != 1 || ps[0] != *legacy.Sink {
		t.Errorf("legacy pools %+v", ps)
	}
}
