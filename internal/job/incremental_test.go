package job_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// phasedSource releases its records one phase at a time: Poll returns the
// records of phases the test has opened, and waits otherwise.
type phasedSource struct {
	mu     sync.Mutex
	phases [][]operators.Record
	opened int // phases released
	wake   chan struct{}
	next   int64 // records read (position)
	idx    int   // current phase
	off    int   // offset in the current phase
}

func (s *phasedSource) open(n int) {
	s.mu.Lock()
	s.opened = n
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *phasedSource) Open(context.Context, []operators.Position) error { return nil }

func (s *phasedSource) Poll(ctx context.Context) ([]operators.Record, int64, error) {
	for {
		s.mu.Lock()
		opened := s.opened
		s.mu.Unlock()
		for s.idx < opened && s.off == len(s.phases[s.idx]) {
			s.idx, s.off = s.idx+1, 0
		}
		if s.idx < opened {
			end := min(s.off+512, len(s.phases[s.idx]))
			recs := s.phases[s.idx][s.off:end]
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

func (s *phasedSource) Positions() []operators.Position {
	return []operators.Position{{Topic: "in", Offset: s.next}}
}

func (s *phasedSource) NotifyCheckpointComplete(context.Context, int64, []operators.Position) error {
	return nil
}
func (s *phasedSource) Close() error { return nil }

// store writes each record's value as its key's state.
type store struct {
	operators.Base
	v *state.Value[[]byte]
}

func (s *store) Open(_ context.Context, oc operators.OpenContext) error {
	s.v = state.NewValue(oc.State, oc.Name, "v", state.Bytes{})
	return nil
}

func (s *store) Process(_ context.Context, recs []operators.Record, _ operators.Collector) error {
	for _, r := range recs {
		if err := s.v.Put(r.Key, r.Value); err != nil {
			return err
		}
	}
	return nil
}

// TestIncrementalCheckpoints builds more than 200 MB of keyed state over
// many checkpoints, then updates 1 % of the keys between two checkpoints,
// 16 times. A checkpoint after such an update uploads what changed: the
// median one must upload less than 10 % of the full state. Some of them
// also carry the output of a compaction, which rewrites older files; the
// mean, which includes those, must stay under 25 %, so that a regression
// to uploading everything every time cannot pass.
func TestIncrementalCheckpoints(t *testing.T) {
	const (
		keys      = 800_000
		valueSize = 256
		build     = 10 // phases that write the keys
		updates   = 16 // phases that each update 1 % of the keys
	)
	rng := rand.New(rand.NewPCG(1, 2))
	val := func() []byte {
		b := make([]byte, valueSize)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var phases [][]operators.Record
	for p := range build {
		var recs []operators.Record
		for k := p; k < keys; k += build {
			recs = append(recs, operators.Record{Key: fmt.Appendf(nil, "key-%07d", k), Value: val()})
		}
		phases = append(phases, recs)
	}
	for range updates {
		var recs []operators.Record
		for range keys / 100 {
			recs = append(recs, operators.Record{Key: fmt.Appendf(nil, "key-%07d", rng.IntN(keys)), Value: val()})
		}
		phases = append(phases, recs)
	}
	var sum []int64 // records in phases 0..i
	var n int64
	for _, p := range phases {
		n += int64(len(p))
		sum = append(sum, n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, err := storage.NewFile(filepath.Join(t.TempDir(), "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	src := &phasedSource{phases: phases, wake: make(chan struct{}, 1)}
	complete := make(chan *checkpoint.Metadata, 100)
	j := job.New(job.Spec{
		Name: "incremental", MaxParallelism: 128, Parallelism: 1,
		NewSources: func() ([]operators.Source, error) { return []operators.Source{src}, nil },
		Chain:      []operators.OperatorSpec{{Name: "store", New: func(int) (operators.Operator, error) { return &store{}, nil }}},
		Store:      st, ExactlyOnce: true, StateDir: t.TempDir(),
		Checkpoint: checkpoint.Config{Interval: 50 * time.Millisecond, Timeout: time.Minute, Retained: 2,
			OnComplete: func(m *checkpoint.Metadata) { complete <- m }},
	})
	stop, errc := run(ctx, j)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	stats := func(id int64) checkpoint.Stats {
		for _, s := range j.Stats() {
			if s.ID == id {
				return s
			}
		}
		t.Fatalf("no statistics for checkpoint %d", id)
		return checkpoint.Stats{}
	}
	// covering returns the first checkpoint that consumed phase i.
	covering := func(i int) *checkpoint.Metadata {
		for {
			select {
			case m := <-complete:
				if consumed(m) == sum[i] {
					return m
				}
			case err := <-errc:
				t.Fatalf("job ended: %v", err)
			case <-ctx.Done():
				t.Fatalf("no checkpoint consumed phase %d", i)
			}
		}
	}
	var ratios []float64
	for i := range phases {
		src.open(i + 1)
		m := covering(i)
		s := stats(m.CheckpointID)
		ratio := float64(s.BytesUploaded) / float64(s.StateSize)
		kind := "build"
		if i >= build {
			kind = "1% update"
		}
		t.Logf("phase %2d (%s): checkpoint %d, state %6.1f MB, uploaded %6.2f MB (%5.2f %%), %d files uploaded, %d reused, sync %s",
			i, kind, m.CheckpointID, float64(s.StateSize)/1e6, float64(s.BytesUploaded)/1e6, 100*ratio, s.FilesUploaded, s.FilesReused, s.SyncDuration)
		if i >= build {
			if s.StateSize < 200e6 {
				t.Errorf("state is %d bytes, want at least 200 MB", s.StateSize)
			}
			ratios = append(ratios, ratio)
		}
	}
	sort.Float64s(ratios)
	var mean float64
	for _, r := range ratios {
		mean += r / float64(len(ratios))
	}
	median := (ratios[len(ratios)/2-1] + ratios[len(ratios)/2]) / 2
	t.Logf("after 1%% updates: median upload %.2f %% of the state, mean %.2f %%, max %.2f %%", 100*median, 100*mean, 100*ratios[len(ratios)-1])
	if median >= 0.10 {
		t.Errorf("median checkpoint after a 1%% update uploaded %.1f %% of the state, want < 10 %%", 100*median)
	}
	if mean >= 0.25 {
		t.Errorf("checkpoints after 1%% updates uploaded %.1f %% of the state on average, want < 25 %%", 100*mean)
	}
}
