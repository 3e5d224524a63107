package checkpoint

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestRescale: descriptions that differ only in task counts are a
// rescale; any other difference, or none, is not.
func TestRescale(t *testing.T) {
	graph := func(p, tasks, src string) []string {
		return []string{"max_parallelism=128", "parallelism=" + p,
			"stage name=source:in tasks=" + src + " kind=source sink=false",
			"stage name=counts tasks=" + tasks + " kind=keyed sink=true", "operator name=count stage=counts count"}
	}
	legacy := func(p string) []string {
		return []string{"max_parallelism=128", "parallelism=" + p, "source_tasks=" + p, "operator name=count count"}
	}
	for _, c := range []struct {
		name     string
		was, now []string
		want     bool
	}{
		{"graph 2 -> 4", graph("2", "2", "2"), graph("4", "4", "4"), true},
		{"graph stage only", graph("2", "2", "2"), graph("2", "3", "2"), true},
		{"legacy 2 -> 1", legacy("2"), legacy("1"), true},
		{"same", legacy("2"), legacy("2"), false},
		{"operator changed", legacy("2"), append(legacy("4")[:3], "operator name=count dedup"), false},
		{"no description", nil, legacy("2"), false},
	} {
		changes, ok := Rescale(c.was, c.now)
		if ok != c.want {
			t.Errorf("%s: Rescale = %v (%q), want %v", c.name, ok, changes, c.want)
		}
		if ok && !strings.Contains(changes, "parallelism=") && !strings.Contains(changes, "tasks=") {
			t.Errorf("%s: changes %q name no task count", c.name, changes)
		}
	}
}

// TestCheckTopologyRefusesMaxParallelism: another max_parallelism is
// refused with both values and the way out.
func TestCheckTopologyRefusesMaxParallelism(t *testing.T) {
	m := &Metadata{CheckpointID: 7, Topology: "a", TopologyDescription: []string{"max_parallelism=128", "parallelism=2"}}
	_, err := checkTopology(m, "b", []string{"max_parallelism=256", "parallelism=2"})
	if !errors.Is(err, ErrTopologyMismatch) || !strings.Contains(err.Error(), "checkpoint 7 has max_parallelism=128 and this job max_parallelism=256") {
		t.Fatalf("err %v", err)
	}
	if changes, err := checkTopology(m, "c", []string{"max_parallelism=128", "parallelism=5"}); err != nil || changes == "" {
		t.Fatalf("rescale 2 -> 5: %q, %v", changes, err)
	}
}

// TestUnionPools: one pool per prefix and stage, the wider of each.
func TestUnionPools(t *testing.T) {
	got := UnionPools(
		[]SinkPool{{TransactionalIDPrefix: "p", Stage: "s", Tasks: 4, PoolSize: 3}, {TransactionalIDPrefix: "old", Tasks: 2, PoolSize: 3}},
		[]SinkPool{{TransactionalIDPrefix: "p", Stage: "s", Tasks: 1, PoolSize: 5}, {TransactionalIDPrefix: "p", Stage: "t", Tasks: 2, PoolSize: 3}})
	want := []SinkPool{{TransactionalIDPrefix: "p", Stage: "s", Tasks: 4, PoolSize: 5}, {TransactionalIDPrefix: "old", Tasks: 2, PoolSize: 3}, {TransactionalIDPrefix: "p", Stage: "t", Tasks: 2, PoolSize: 3}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UnionPools = %+v, want %+v", got, want)
	}
}
