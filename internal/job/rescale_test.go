package job_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/builtin"
	"github.com/tidemark/tidemark/operators/state"
)

// mergedDump restores every task of checkpoint m and returns the state of
// all of them as one sorted list of key=value lines, whatever the number
// of tasks (the backends' own keys left out), and checks that each task
// holds only keys of its key groups.
func mergedDump(t *testing.T, st storage.Store, m *checkpoint.Metadata) []byte {
	t.Helper()
	var lines []string
	for _, ts := range m.Tasks {
		dir := t.TempDir()
		if _, _, err := checkpoint.PrepareTask(context.Background(), st, m, ts.ID(), filepath.Join(dir, "none"), filepath.Join(dir, "restore")); err != nil {
			t.Fatal(err)
		}
		b, err := state.OpenFrom(filepath.Join(dir, "restore"), filepath.Join(dir, "live"), state.Options{MaxParallelism: m.MaxParallelism})
		if err != nil {
			t.Fatal(err)
		}
		err = b.Iterate(func(k, v []byte) error {
			if k[0] == 0xff {
				return nil
			}
			if kg := int(k[0])<<8 | int(k[1]); kg < ts.KeyGroups[0] || kg >= ts.KeyGroups[1] {
				return fmt.Errorf("task %s of key groups %v holds key %x of key group %d", ts.ID(), ts.KeyGroups, k, kg)
			}
			lines = append(lines, fmt.Sprintf("%x=%x", k, v))
			return nil
		})
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n"))
}

func taskCount(m *checkpoint.Metadata) int { return len(m.Tasks) }

// TestRescaleRestoreEquivalence: a keyed count over fixed input, stopped
// after a checkpoint with 2 keyed tasks, restored with 4, stopped again and
// restored with 1, processes every record exactly once and ends with the
// state of one uninterrupted run. With unaligned set, checkpoints fall
// back to unaligned barriers at once, so in-flight records of the old
// tasks are rerouted to the new owners of their key groups.
func TestRescaleRestoreEquivalence(t *testing.T) {
	for _, unaligned := range []bool{false, true} {
		t.Run(fmt.Sprintf("unaligned=%t", unaligned), func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			if v, err := strconv.ParseUint(os.Getenv("TIDEMARK_RESCALE_SEED"), 10, 64); err == nil {
				seed = v
			}
			t.Logf("seed %d (set TIDEMARK_RESCALE_SEED to repeat)", seed)
			parts := input(seed, 4, 5000, 300)
			n := total(parts)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			all := func(m *checkpoint.Metadata) bool { return consumed(m) == n }
			ref := newHarness(t, parts, storage.NewMem())
			want := mergedDump(t, ref.store, ref.runUntil(ctx, job.New(ref.spec(20*time.Millisecond)), all))

			r := rand.New(rand.NewPCG(seed, 3))
			cut1 := n/10 + r.Int64N(n*3/10)
			cut2 := n/2 + r.Int64N(n*3/10)
			h := newHarness(t, parts, storage.NewMem())
			h.target = -1
			var sawUnaligned bool
			prev := 0
			attempt := func(parallelism int, stop func(*checkpoint.Metadata) bool) *checkpoint.Metadata {
				h.stateDir = t.TempDir()
				h.processed.Store(0)
				h.target = -1
				spec := h.spec(20 * time.Millisecond)
				spec.Parallelism = parallelism
				if unaligned {
					spec.AlignmentTimeout = time.Nanosecond
				}
				j := job.New(spec)
				m := h.runUntil(ctx, j, stop)
				want := ""
				if prev != 0 {
					want = fmt.Sprintf("keyed %d->%d", prev, parallelism)
				}
				prev = parallelism
				if r := j.LastRestore(); r == nil || r.Rescaled != want {
					t.Errorf("parallelism %d: last restore %+v, want rescaled %q", parallelism, r, want)
				}
				if m.Unaligned {
					sawUnaligned = true
				}
				if got := taskCount(m); got != parallelism {
					t.Fatalf("checkpoint %d with parallelism %d has %d tasks", m.CheckpointID, parallelism, got)
				}
				t.Logf("parallelism %d: stopped after checkpoint %d (unaligned %t), %d of %d records consumed", parallelism, m.CheckpointID, m.Unaligned, consumed(m), n)
				return m
			}
			m1 := attempt(2, func(m *checkpoint.Metadata) bool { return consumed(m) >= cut1 })
			attempt(4, func(m *checkpoint.Metadata) bool { return consumed(m) >= min(n, max(cut2, consumed(m1)+1)) })
			// The last checkpoint must hold every record in its state,
			// none in flight (an unaligned one may).
			end := attempt(1, func(m *checkpoint.Metadata) bool { return all(m) && !hasInFlight(m) })
			if got := mergedDump(t, h.store, end); !bytes.Equal(got, want) {
				t.Fatalf("state after rescaling 2 -> 4 -> 1 differs from the uninterrupted run's: %s", firstDiff(got, want))
			}
			if unaligned && !sawUnaligned {
				t.Log("no checkpoint ended unaligned at the stops (in-flight rerouting is covered by TestRerouteInFlight)")
			}
		})
	}
}

// TestRescaleFromSavepoint: a savepoint taken with 2 keyed tasks restores
// with 4 (--from), and that run's state, rescaled again to 1 on a restart
// from its newest checkpoint, ends equal to an uninterrupted run's.
func TestRescaleFromSavepoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	parts := input(33, 4, 4000, 300)
	n := total(parts)
	ref := newHarness(t, parts, storage.NewMem())
	want := mergedDump(t, ref.store, ref.runUntil(ctx, job.New(ref.spec(20*time.Millisecond)), func(m *checkpoint.Metadata) bool { return consumed(m) == n }))

	mem := storage.NewMem()
	h := newHarness(t, parts, mem)
	h.target = -1
	spec := h.spec(10 * time.Millisecond)
	j := job.New(spec)
	stop, _ := run(ctx, j)
	for m := range h.complete {
		if consumed(m) >= n/3 {
			break
		}
	}
	if _, err := j.Savepoint(ctx, "rescale"); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	sp, err := checkpoint.FindRestorePoint(ctx, mem, checkpoint.RestoreOptions{From: "savepoints/rescale"})
	if err != nil {
		t.Fatal(err)
	}

	h2 := newHarness(t, parts, mem)
	h2.target = -1
	spec2 := h2.spec(10 * time.Millisecond)
	spec2.Parallelism = 4
	spec2.Restore = checkpoint.RestoreOptions{From: "rescale"}
	half := consumed(sp) + (n-consumed(sp))/2
	mid := h2.runUntil(ctx, job.New(spec2), func(m *checkpoint.Metadata) bool { return consumed(m) >= half && taskCount(m) == 4 })
	if mid.Origin != "savepoint:rescale" {
		t.Errorf("checkpoint %d after the rescaled restore has origin %q, want savepoint:rescale", mid.CheckpointID, mid.Origin)
	}
	if got := h2.processed.Load(); got < consumed(mid)-consumed(sp) {
		t.Errorf("restored from the savepoint with 4 tasks, processed %d records, want at least %d", got, consumed(mid)-consumed(sp))
	}

	h3 := newHarness(t, parts, mem)
	h3.target = -1
	spec3 := h3.spec(10 * time.Millisecond)
	spec3.Parallelism = 1
	end := h3.runUntil(ctx, job.New(spec3), func(m *checkpoint.Metadata) bool { return consumed(m) == n })
	if got := h3.processed.Load(); got != n-consumed(mid) {
		t.Errorf("restored with 1 task, processed %d records, want %d", got, n-consumed(mid))
	}
	if got := mergedDump(t, mem, end); !bytes.Equal(got, want) {
		t.Fatal("state after savepoint(2) -> 4 -> 1 differs from the uninterrupted run's")
	}
}

// TestRescaleRefusesMaxParallelism: a restore with another max_parallelism
// is refused, naming both values and what may change instead.
func TestRescaleRefusesMaxParallelism(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts := input(5, 2, 500, 50)
	mem := storage.NewMem()
	h := newHarness(t, parts, mem)
	h.target = -1
	h.runUntil(ctx, job.New(h.spec(10*time.Millisecond)), func(m *checkpoint.Metadata) bool { return consumed(m) > 0 })
	spec := h.spec(10 * time.Millisecond)
	spec.MaxParallelism = 64
	err := job.New(spec).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "max_parallelism=128 and this job max_parallelism=64") || !strings.Contains(err.Error(), "job.parallelism may change") {
		t.Fatalf("restore with another max_parallelism: %v", err)
	}
}

// sequenced records every sequence number it sees (a passthrough's
// output) and forwards the records.
type sequenced struct {
	operators.Base
	mu   *sync.Mutex
	seen map[string]int
}

func (s *sequenced) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	s.mu.Lock()
	for _, r := range recs {
		s.seen[string(r.Value)]++
	}
	s.mu.Unlock()
	for _, r := range recs {
		out.Emit(r)
	}
	return nil
}

// perKey records every count emitted per key.
type perKey struct {
	operators.Base
	mu     *sync.Mutex
	counts map[string][]int
}

func (p *perKey) Process(_ context.Context, recs []operators.Record, _ operators.Collector) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range recs {
		n, _ := strconv.Atoi(string(r.Value))
		p.counts[string(r.Key)] = append(p.counts[string(r.Key)], n)
	}
	return nil
}

// TestRescaleGraphOutput: a job graph whose keyed stage runs 2, then 4,
// then 1 tasks over successive parts of one input (each run reads to the
// end of its part, takes its final checkpoint, and the next restores it
// with the new parallelism) emits what one uninterrupted run emits: every
// sequence number once (passthrough), and per key the counts 1..n.
func TestRescaleGraphOutput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var recs []operators.Record
	r := rand.New(rand.NewPCG(9, 9))
	for i := range 3000 {
		recs = append(recs, operators.Record{Key: []byte("u" + strconv.Itoa(r.IntN(97))), Value: []byte(strconv.Itoa(i))})
	}
	mem := storage.NewMem()
	seq := &sequenced{mu: &sync.Mutex{}, seen: map[string]int{}}
	out := &perKey{mu: &sync.Mutex{}, counts: map[string][]int{}}
	var openedMu sync.Mutex
	var opened []operators.Position
	var metaMu sync.Mutex
	var metas []*checkpoint.Metadata
	desc := func(p int) []string {
		return []string{"max_parallelism=128", fmt.Sprintf("parallelism=%d", p), "stage name=source:in tasks=1 kind=source sink=false",
			fmt.Sprintf("stage name=counts tasks=%d kind=keyed sink=false", p), "operator name=count stage=counts count"}
	}
	phase := func(p int, input []operators.Record) {
		graph := &operators.GraphSpec{Stages: []operators.StageSpec{
			{Name: "source:in", Source: "in", IsSource: true, Tasks: 1, SourceOuts: []operators.Edge{{Stage: "counts", To: "seq"}}},
			{Name: "counts", Tasks: p, Stateful: true, Nodes: []operators.NodeSpec{
				{Name: "seq", New: func(int) (operators.Operator, error) { return seq, nil }, Outs: []operators.Edge{{To: "count"}}},
				{Name: "count", New: func(int) (operators.Operator, error) { return &builtin.Count{}, nil }, Outs: []operators.Edge{{To: "out"}}},
				{Name: "out", New: func(int) (operators.Operator, error) { return out, nil }},
			}},
		}}
		spec := job.Spec{
			Name: "rescale", MaxParallelism: 128, Parallelism: p, Graph: graph,
			NewGraphSources: func() (map[string][]operators.Source, error) {
				src := &boundedSource{SliceSource: builtin.SliceSource{Topic: "in", Partitions: [][]operators.Record{input}, BatchSize: 50},
					total: int64(len(input)), opened: &opened, openedMu: &openedMu}
				return map[string][]operators.Source{"source:in": {src}}, nil
			},
			Description: desc(p), Store: mem, ExactlyOnce: true, StateDir: t.TempDir(),
			Checkpoint: checkpoint.Config{Interval: 20 * time.Millisecond, Timeout: time.Minute, MaxConcurrent: 1, Retained: 2,
				OnComplete: func(m *checkpoint.Metadata) { metaMu.Lock(); metas = append(metas, m); metaMu.Unlock() }},
			Log: zaptest.NewLogger(t).Named(fmt.Sprintf("job-p%d", p)),
		}
		j := job.New(spec)
		if err := j.Run(ctx); err != nil {
			t.Fatalf("parallelism %d: %v", p, err)
		}
		if !j.Finished() {
			t.Fatalf("parallelism %d: Run returned before the input's end", p)
		}
		metaMu.Lock()
		last := metas[len(metas)-1]
		metaMu.Unlock()
		if got := taskCount(last); got != p {
			t.Fatalf("parallelism %d: final checkpoint has %d tasks", p, got)
		}
	}
	phase(2, recs[:1000])
	phase(4, recs[:2200])
	phase(1, recs)
	openedMu.Lock()
	if got := fmt.Sprint(opened); got != "[{in 0 1000} {in 0 2200}]" {
		t.Errorf("the restored runs opened the source at %s, want offsets 1000 then 2200", got)
	}
	openedMu.Unlock()
	for i := range recs {
		if c := seq.seen[strconv.Itoa(i)]; c != 1 {
			t.Errorf("record %d passed through %d times, want once", i, c)
		}
	}
	want := map[string]int{}
	for _, r := range recs {
		want[string(r.Key)]++
	}
	for k, n := range want {
		got := out.counts[k]
		ok := len(got) == n
		for i := 0; ok && i < n; i++ {
			ok = got[i] == i+1
		}
		if !ok {
			t.Errorf("key %s: counts %v, want 1..%d", k, got, n)
		}
	}
}

// firstDiff names the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d: %s, want %s", i, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// hasInFlight reports whether m holds in-flight records of an unaligned
// checkpoint (not in any task's state).
func hasInFlight(m *checkpoint.Metadata) bool {
	for _, ts := range m.Tasks {
		if ts.InFlight != nil {
			return true
		}
	}
	return false
}
