package job_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// keyedCount counts records per key in a value state: the issue's
// per-record keyed count.
type keyedCount struct {
	operators.Base
	n *state.Value[int64]
}

func (c *keyedCount) Open(_ context.Context, oc operators.OpenContext) error {
	c.n = state.NewValue(oc.State, oc.Name, "n", state.Int64{})
	return nil
}

func (c *keyedCount) Process(_ context.Context, recs []operators.Record, _ operators.Collector) error {
	for _, r := range recs {
		n, _, err := c.n.Get(r.Key)
		if err != nil {
			return err
		}
		if err := c.n.Put(r.Key, n+1); err != nil {
			return err
		}
	}
	return nil
}

// roundsSource emits rounds of records, each holding every one of keys
// keys once in a random order, as many rounds as open allowed.
type roundsSource struct {
	keys   int
	mu     sync.Mutex
	opened int
	wake   chan struct{}
	round  int
	off    int
	perm   []int
	next   int64
}

func (s *roundsSource) open(n int) {
	s.mu.Lock()
	s.opened = n
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *roundsSource) Open(context.Context, []operators.Position) error { return nil }

func (s *roundsSource) Poll(ctx context.Context) ([]operators.Record, int64, error) {
	for {
		s.mu.Lock()
		opened := s.opened
		s.mu.Unlock()
		if s.perm == nil || s.off == len(s.perm) {
			if s.round < opened {
				s.perm = rand.New(rand.NewPCG(uint64(s.round), 7)).Perm(s.keys)
				s.round, s.off = s.round+1, 0
			}
		}
		if s.perm != nil && s.off < len(s.perm) {
			end := min(s.off+512, len(s.perm))
			recs := make([]operators.Record, 0, end-s.off)
			for _, k := range s.perm[s.off:end] {
				recs = append(recs, operators.Record{Key: fmt.Appendf(nil, "key-%05d", k), Value: []byte("x")})
			}
			s.off = end
			s.next += int64(len(recs))
			return recs, 0, nil
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return nil, 0, nil
		}
	}
}

func (s *roundsSource) Positions() []operators.Position {
	return []operators.Position{{Topic: "in", Offset: s.next}}
}

func (s *roundsSource) NotifyCheckpointComplete(context.Context, int64, []operators.Position) error {
	return nil
}
func (s *roundsSource) Close() error { return nil }

// liveBytes is the size of a checkpoint of a fresh backend holding only
// the given state: every one of keys keys counted n times, under operator
// op. It is what the job's state would take with nothing stale in it.
func liveBytes(t *testing.T, op string, keys int, n int64) int64 {
	t.Helper()
	b, err := state.Open(filepath.Join(t.TempDir(), "live"), state.Options{MaxParallelism: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v := state.NewValue(b, op, "n", state.Int64{})
	for k := range keys {
		if err := v.Put(fmt.Appendf(nil, "key-%05d", k), n); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "chk")
	names, err := b.Checkpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, name := range names {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	return total
}

// TestCheckpointedStateStaysProportional: a keyed count of 10,000 keys,
// every key counted between two checkpoints, at parallelism 2, over many
// checkpoints: what each checkpoint references (the files of its tasks)
// stays within 3 times the live state (the same counts written once into a
// fresh database). Without the backend's own compaction, L0 collects one
// flush of every key per checkpoint until Pebble's L0 threshold (24), and
// checkpoints reference up to about 25 times the live state. 10
// checkpoints here; make state-growth runs the 10-minute version
// (TIDEMARK_STATE_CHECKPOINTS=600 TIDEMARK_STATE_INTERVAL=1s).
func TestCheckpointedStateStaysProportional(t *testing.T) {
	n, interval := 10, 5*time.Millisecond
	if env := os.Getenv("TIDEMARK_STATE_CHECKPOINTS"); env != "" {
		v, err := strconv.Atoi(env)
		if err != nil || v < 10 {
			t.Fatalf("TIDEMARK_STATE_CHECKPOINTS=%q: want a number ≥ 10", env)
		}
		n = v
	}
	if env := os.Getenv("TIDEMARK_STATE_INTERVAL"); env != "" {
		d, err := time.ParseDuration(env)
		if err != nil || d <= 0 {
			t.Fatalf("TIDEMARK_STATE_INTERVAL=%q: want a positive duration", env)
		}
		interval = d
	}
	const keys = 10_000
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*(interval+2*time.Second)+3*time.Minute)
	defer cancel()
	src := &roundsSource{keys: keys, wake: make(chan struct{}, 1)}
	complete := make(chan *checkpoint.Metadata, 100)
	j := job.New(job.Spec{
		Name: "live", MaxParallelism: 128, Parallelism: 2,
		NewSources: func() ([]operators.Source, error) { return []operators.Source{src}, nil },
		Chain:      []operators.OperatorSpec{{Name: "count", New: func(int) (operators.Operator, error) { return &keyedCount{}, nil }}},
		Store:      storage.NewMem(), ExactlyOnce: true, StateDir: t.TempDir(),
		Checkpoint: checkpoint.Config{Interval: interval, Timeout: time.Minute, Retained: 1,
			OnComplete: func(m *checkpoint.Metadata) { complete <- m }},
	})
	stop, errc := run(ctx, j)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	// referenced[i] is what the checkpoint that took round i+1 references.
	referenced := make([]int64, n)
	uploaded := make([]int64, n)
	start := time.Now()
	for r := range n {
		src.open(r + 1)
		var m *checkpoint.Metadata
		for m == nil {
			select {
			case c := <-complete:
				if consumed(c) == int64(keys*(r+1)) {
					m = c
				}
			case err := <-errc:
				t.Fatalf("job ended: %v", err)
			case <-ctx.Done():
				t.Fatalf("no checkpoint took round %d", r+1)
			}
		}
		for _, ts := range m.Tasks {
			for _, f := range ts.Files {
				referenced[r] += f.Size
			}
		}
		for _, s := range j.Stats() {
			if s.ID == m.CheckpointID {
				uploaded[r] = s.BytesUploaded
			}
		}
	}
	// Every key was counted once per round: the live state is every key
	// with the count n.
	live := liveBytes(t, "count", keys, int64(n))
	var worst, sum float64
	var worstAt int
	for r, b := range referenced {
		ratio := float64(b) / float64(live)
		sum += ratio
		if ratio > worst {
			worst, worstAt = ratio, r
		}
	}
	var up int64
	for _, u := range uploaded {
		up += u
	}
	t.Logf("%d checkpoints (interval %s) of a count of %d keys, every key counted between two, in %s: live state %d bytes; referenced by a checkpoint: first %d, last %d, mean %.2f times live, at most %.2f times (checkpoint %d); mean upload %d bytes",
		n, interval, keys, time.Since(start).Round(time.Second), live, referenced[0], referenced[n-1], sum/float64(n), worst, worstAt+1, up/int64(n))
	if worst > 3 {
		t.Errorf("checkpoint %d references %d bytes, %.2f times the live state (%d bytes); want at most 3 times",
			worstAt+1, referenced[worstAt], worst, live)
	}
}
