package job_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
)

// TestUploadPerCheckpointStaysFlat: a job that changes a little state
// between checkpoints, for a long time, uploads about the same per
// checkpoint at the end as at the start. Every checkpoint uploads the
// task's Pebble MANIFEST whole, so one that only grows (Pebble rotates it
// at 128 MB by default) makes each checkpoint dearer than the last. 1,000
// checkpoints here; TIDEMARK_CHECKPOINTS=10000 (make checkpoint-growth)
// runs the long version.
func TestUploadPerCheckpointStaysFlat(t *testing.T) {
	n := 1000
	if env := os.Getenv("TIDEMARK_CHECKPOINTS"); env != "" {
		v, err := strconv.Atoi(env)
		if err != nil || v < 100 {
			t.Fatalf("TIDEMARK_CHECKPOINTS=%q: want a number ≥ 100", env)
		}
		n = v
	}
	const (
		keys    = 5000
		perStep = 20 // records changed between two checkpoints
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*100*time.Millisecond+time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(23, 24))
	rec := func(k int) operators.Record {
		v := make([]byte, 64)
		for b := range v {
			v[b] = byte(rng.Uint32())
		}
		return operators.Record{Key: fmt.Appendf(nil, "key-%05d", k), Value: v}
	}
	// Phase 0 writes every key: the state has its full size from the
	// start, and each later phase changes perStep keys of it.
	phases := make([][]operators.Record, n+1)
	for k := range keys {
		phases[0] = append(phases[0], rec(k))
	}
	for i := 1; i <= n; i++ {
		for range perStep {
			phases[i] = append(phases[i], rec(rng.IntN(keys)))
		}
	}
	st := storage.NewMem()
	src := &phasedSource{phases: phases, wake: make(chan struct{}, 1)}
	complete := make(chan *checkpoint.Metadata, 100)
	j := job.New(job.Spec{
		Name: "growth", MaxParallelism: 128, Parallelism: 1,
		NewSources: func() ([]operators.Source, error) { return []operators.Source{src}, nil },
		Chain:      []operators.OperatorSpec{{Name: "store", New: func(int) (operators.Operator, error) { return &store{}, nil }}},
		Store:      st, ExactlyOnce: true, StateDir: t.TempDir(),
		Checkpoint: checkpoint.Config{Interval: time.Millisecond, Timeout: time.Minute, Retained: 1,
			OnComplete: func(m *checkpoint.Metadata) { complete <- m }},
	})
	stop, errc := run(ctx, j)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	// uploaded[i] is the bytes uploaded by the checkpoint that took phase
	// i+1, manifest[i] the size of its MANIFEST.
	uploaded := make([]int64, n)
	manifest := make([]int64, n)
	start := time.Now()
	for p := range phases {
		src.open(p + 1)
		var m *checkpoint.Metadata
		for m == nil {
			select {
			case c := <-complete:
				if consumed(c) == int64(keys+perStep*p) {
					m = c
				}
			case err := <-errc:
				t.Fatalf("job ended: %v", err)
			case <-ctx.Done():
				t.Fatalf("no checkpoint took phase %d", p)
			}
		}
		if p == 0 {
			continue
		}
		i := p - 1
		for _, s := range j.Stats() {
			if s.ID == m.CheckpointID {
				uploaded[i] = s.BytesUploaded
			}
		}
		for _, f := range m.Tasks[0].Files {
			if strings.HasPrefix(f.Name, "MANIFEST-") {
				manifest[i] = f.Size
			}
		}
		if uploaded[i] == 0 {
			t.Fatalf("no statistics for checkpoint %d", m.CheckpointID)
		}
	}
	mean := func(xs []int64) float64 {
		var s int64
		for _, x := range xs {
			s += x
		}
		return float64(s) / float64(len(xs))
	}
	tenth := n / 10
	first, last := mean(uploaded[:tenth]), mean(uploaded[n-tenth:])
	for _, at := range []int{100, 1000, 10000} {
		if at <= n {
			t.Logf("checkpoints %5d-%5d: %6.0f bytes uploaded per checkpoint, MANIFEST %6.0f bytes (means)",
				at-99, at, mean(uploaded[at-100:at]), mean(manifest[at-100:at]))
		}
	}
	var maxManifest int64
	for _, s := range manifest {
		maxManifest = max(maxManifest, s)
	}
	t.Logf("%d checkpoints in %s: mean upload %.0f bytes over the first 10 %%, %.0f over the last 10 %% (%.2fx); largest MANIFEST %d bytes",
		n, time.Since(start).Round(time.Second), first, last, last/first, maxManifest)
	if last > 1.5*first {
		t.Errorf("the last 10 %% of checkpoints uploaded %.0f bytes each on average, the first 10 %% %.0f: %.2fx, want at most 1.5x",
			last, first, last/first)
	}
}
