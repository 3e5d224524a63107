package ckptfixture

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// Job describes the fixture's job.
const (
	Name           = "fixture"
	MaxParallelism = 16
	Parallelism    = 2
	// Operator is the keyed operator whose state the tasks keep.
	Operator = "count-0"
)

// Topology is the fixture job's description, as job.Spec.Topology makes it.
var Topology = []string{
	fmt.Sprintf("max_parallelism=%d", MaxParallelism),
	fmt.Sprintf("parallelism=%d", Parallelism),
	"source_tasks=1",
	"source-operator name=key_by-0 type=key_by field=user",
	"operator name=" + Operator + " type=count",
	"operator name=sink type=kafka",
}

// Options tune Write.
type Options struct {
	// Checkpoints to complete. Default 3.
	Checkpoints int
	// KeysPerCheckpoint new keys written before each. Default 40.
	KeysPerCheckpoint int
	// Retained is the coordinator's checkpoint.retained. Default 10.
	Retained int
	// Generation is the lease generation recorded. Default 0.
	Generation int64
}

// Write completes checkpoints of the fixture job in st (the store's root:
// the job's checkpoints go under Name/) and returns their metadata, oldest
// first. Each checkpoint adds KeysPerCheckpoint keys, spread over the
// tasks by key group, so checkpoint n holds n*KeysPerCheckpoint keys of
// Operator.
func Write(t testing.TB, st storage.Store, o Options) []*checkpoint.Metadata {
	t.Helper()
	if o.Checkpoints == 0 {
		o.Checkpoints = 3
	}
	if o.KeysPerCheckpoint == 0 {
		o.KeysPerCheckpoint = 40
	}
	if o.Retained == 0 {
		o.Retained = 10
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := zaptest.NewLogger(t)
	dir := t.TempDir()
	var backends []*state.Backend
	for k := range Parallelism {
		start, end := operators.KeyGroupRange(k, MaxParallelism, Parallelism)
		b, err := state.Open(filepath.Join(dir, "live", strconv.Itoa(k)), state.Options{MaxParallelism: MaxParallelism, KeyGroups: state.KeyGroupRange{Start: start, End: end}})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		backends = append(backends, b)
	}
	completed := make(chan *checkpoint.Metadata, o.Checkpoints)
	local := filepath.Join(dir, "checkpoints")
	c, err := checkpoint.New(ctx, checkpoint.Config{
		Job: Name, Topology: "fixture", TopologyDescription: Topology, Generation: o.Generation,
		MaxParallelism: MaxParallelism, Parallelism: Parallelism, Interval: time.Millisecond, Timeout: time.Minute,
		Retained: o.Retained, LocalDir: local, Log: log.Named("checkpoint"),
		OnComplete: func(m *checkpoint.Metadata) { completed <- m },
	}, checkpoint.JobStore(st, Name), nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &graph{triggers: make(chan int64, 16)}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(runCtx, g) }()
	defer func() {
		stop()
		if err := <-errc; err != nil {
			t.Errorf("ckptfixture: coordinator: %v", err)
		}
	}()
	var out []*checkpoint.Metadata
	next := 0
	for len(out) < o.Checkpoints {
		var id int64
		select {
		case id = <-g.triggers:
		case <-ctx.Done():
			t.Fatalf("ckptfixture: no checkpoint triggered: %v", ctx.Err())
		}
		for range o.KeysPerCheckpoint {
			key := []byte("user-" + strconv.Itoa(next))
			next++
			k := operators.TaskForKeyGroup(state.KeyGroup(key, MaxParallelism), MaxParallelism, Parallelism)
			v := state.NewValue(backends[k], Operator, "count", state.Int64{})
			if err := v.Put(key, int64(next)); err != nil {
				t.Fatal(err)
			}
		}
		for k, b := range backends {
			task := operators.TaskID{Stage: "keyed", Index: k}
			snap := filepath.Join(local, fmt.Sprintf("chk-%d", id), task.String())
			if _, err := b.Checkpoint(snap); err != nil {
				t.Fatal(err)
			}
			c.TaskSnapshot(operators.TaskSnapshot{Task: task, CheckpointID: id, Dir: snap})
		}
		c.SourceSnapshot(operators.SourceSnapshot{Task: operators.TaskID{Stage: "source", Index: 0}, CheckpointID: id,
			Positions: []operators.Position{{Topic: "clicks", Partition: 0, Offset: int64(next)}, {Topic: "clicks", Partition: 1, Offset: int64(next / 2)}}})
		select {
		case m := <-completed:
			out = append(out, m)
		case <-ctx.Done():
			t.Fatalf("ckptfixture: checkpoint %d did not complete: %v", id, ctx.Err())
		}
	}
	return out
}

// graph plays the job graph for the coordinator: Write answers its
// triggers.
type graph struct{ triggers chan int64 }

func (g *graph) Tasks() []operators.TaskID {
	ids := []operators.TaskID{{Stage: "source", Index: 0}}
	for k := range Parallelism {
		ids = append(ids, operators.TaskID{Stage: "keyed", Index: k})
	}
	return ids
}

func (g *graph) Trigger(id int64) {
	select {
	case g.triggers <- id:
	default: // Write is behind; the checkpoint times out unanswered
	}
}

func (g *graph) TriggerFinal(id int64)                                           { g.Trigger(id) }
func (g *graph) NotifyComplete(int64, map[operators.TaskID][]operators.Position) {}
