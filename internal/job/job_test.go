package job_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/builtin"
	"github.com/tidemark/tidemark/operators/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// input makes parts partitions of n records each over keys keys.
func input(seed uint64, parts, n, keys int) [][]operators.Record {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]operators.Record, parts)
	for p := range out {
		for i := range n {
			k := "k" + strconv.Itoa(r.IntN(keys))
			out[p] = append(out[p], operators.Record{Key: []byte(k), Value: []byte(strconv.Itoa(i)), Timestamp: int64(i)})
		}
	}
	return out
}

// counted is Count that also counts processed records and closes done when
// the count reaches target.
type counted struct {
	builtin.Count
	n      *atomic.Int64
	target int64
	done   chan struct{}
}

func (c *counted) Process(ctx context.Context, recs []operators.Record, out operators.Collector) error {
	if err := c.Count.Process(ctx, recs, out); err != nil {
		return err
	}
	if c.n.Add(int64(len(recs))) == c.target {
		close(c.done)
	}
	return nil
}

type harness struct {
	t        *testing.T
	parts    [][]operators.Record
	sources  int
	store    storage.Store
	stateDir string
	// processed counts records processed in the current attempt.
	processed atomic.Int64
	target    int64
	done      chan struct{}
	complete  chan *checkpoint.Metadata
}

func (h *harness) spec(interval time.Duration) job.Spec {
	return job.Spec{
		Name: "test", MaxParallelism: 128, Parallelism: 2,
		NewSources: func() ([]operators.Source, error) {
			srcs := make([]operators.Source, h.sources)
			for s := range srcs {
				var mine [][]operators.Record
				var ids []int32
				for p := s; p < len(h.parts); p += h.sources {
					mine = append(mine, h.parts[p])
					ids = append(ids, int32(p))
				}
				srcs[s] = &builtin.SliceSource{Topic: "in", Partitions: mine, PartitionIDs: ids, BatchSize: 64}
			}
			return srcs, nil
		},
		Chain: []operators.OperatorSpec{{Name: "count", New: func(int) (operators.Operator, error) {
			return &counted{n: &h.processed, target: h.target, done: h.done}, nil
		}}},
		Store:       h.store,
		ExactlyOnce: true,
		StateDir:    h.stateDir,
		Checkpoint: checkpoint.Config{
			Interval: interval, Timeout: time.Minute, MaxConcurrent: 1, Retained: 2,
			OnComplete: func(m *checkpoint.Metadata) {
				select {
				case h.complete <- m:
				default:
				}
			},
		},
		Log: zaptest.NewLogger(h.t).Named("job"),
	}
}

func total(parts [][]operators.Record) int64 {
	var n int64
	for _, p := range parts {
		n += int64(len(p))
	}
	return n
}

func consumed(m *checkpoint.Metadata) int64 {
	var n int64
	for _, s := range m.Sources {
		for _, p := range s.Positions {
			n += p.Offset
		}
	}
	return n
}

// runUntil runs the job until stop says so of a completed checkpoint, then
// stops it and returns that checkpoint.
func (h *harness) runUntil(ctx context.Context, j *job.Job, stop func(*checkpoint.Metadata) bool) *checkpoint.Metadata {
	h.t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- j.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			h.t.Fatalf("job: %v", err)
		}
	}()
	for {
		select {
		case m := <-h.complete:
			if stop(m) {
				return m
			}
		case err := <-errc:
			errc <- err
			h.t.Fatalf("job ended early: %v", err)
		case <-ctx.Done():
			h.t.Fatal("timed out")
		}
	}
}

// dump restores checkpoint m into a fresh directory and returns every
// key and value of every task's state.
func dump(t *testing.T, st storage.Store, m *checkpoint.Metadata) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, ts := range m.Tasks {
		dir := t.TempDir()
		if _, _, err := checkpoint.PrepareTask(context.Background(), st, m, ts.ID(), filepath.Join(dir, "none"), filepath.Join(dir, "restore")); err != nil {
			t.Fatal(err)
		}
		b, err := state.OpenFrom(filepath.Join(dir, "restore"), filepath.Join(dir, "live"), state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = b.Iterate(func(k, v []byte) error {
			fmt.Fprintf(&buf, "%d %x=%x\n", ts.Task, k, v)
			return nil
		})
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestRestoreEquivalence runs a keyed count over fixed input twice: once
// uninterrupted, once stopped at a random point and restored from its last
// checkpoint into a fresh state directory. Both must end with identical
// state.
func TestRestoreEquivalence(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	parts := input(seed, 4, 5000, 300)
	n := total(parts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := func(m *checkpoint.Metadata) bool { return consumed(m) == n }

	ref := &harness{t: t, parts: parts, sources: 2, store: storage.NewMem(), stateDir: t.TempDir(), target: n, done: make(chan struct{}), complete: make(chan *checkpoint.Metadata, 1)}
	refM := ref.runUntil(ctx, job.New(ref.spec(20*time.Millisecond)), all)
	if got := ref.processed.Load(); got != n {
		t.Fatalf("uninterrupted run processed %d records, want %d", got, n)
	}
	want := dump(t, ref.store, refM)

	// Interrupted: stop after a checkpoint that consumed a random part.
	cut := n/10 + rand.New(rand.NewPCG(seed, 2)).Int64N(n*8/10)
	h := &harness{t: t, parts: parts, sources: 2, store: storage.NewMem(), stateDir: t.TempDir(), target: -1, done: make(chan struct{}), complete: make(chan *checkpoint.Metadata, 1)}
	mid := h.runUntil(ctx, job.New(h.spec(20*time.Millisecond)), func(m *checkpoint.Metadata) bool { return consumed(m) >= cut })
	t.Logf("stopped after checkpoint %d, which consumed %d of %d records", mid.CheckpointID, consumed(mid), n)

	// A fresh process: new state directory, state from storage only.
	h.stateDir = t.TempDir()
	h.processed.Store(0)
	h.target = n - consumed(mid)
	end := h.runUntil(ctx, job.New(h.spec(20*time.Millisecond)), all)
	if end.CheckpointID <= mid.CheckpointID {
		t.Errorf("checkpoint ids did not increase across the restart: %d after %d", end.CheckpointID, mid.CheckpointID)
	}
	if got := h.processed.Load(); got != n-consumed(mid) {
		t.Errorf("restored run processed %d records, want %d", got, n-consumed(mid))
	}
	if got := dump(t, h.store, end); !bytes.Equal(got, want) {
		t.Fatalf("restored state differs from the uninterrupted run's (%d vs %d bytes)", len(got), len(want))
	}
}
