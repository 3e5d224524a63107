package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/faulty"
	"github.com/tidemark/tidemark/operators"
)

// seed returns the seed of a randomized test: TIDEMARK_SEED if set, else
// the clock's. It logs how to repeat the run.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if env := os.Getenv("TIDEMARK_SEED"); env != "" {
		v, err := strconv.ParseUint(env, 10, 64)
		if err != nil {
			t.Fatalf("TIDEMARK_SEED=%q: %v", env, err)
		}
		s = v
	}
	t.Logf("seed %d: repeat with TIDEMARK_SEED=%d go test -run '^%s$' ./checkpoint/", s, s, t.Name())
	return s
}

// violations keeps the first broken invariant, reported from coordinator
// and collection goroutines.
type violations struct {
	mu    sync.Mutex
	first error
}

func (v *violations) add(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.first == nil {
		v.first = err
	}
}

func (v *violations) get() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.first
}

// part is a task's (or the source's, task -1) part of a checkpoint that the
// test has not delivered yet.
type part struct {
	id   int64
	task int
}

// TestGCRandomInterleavings drives the coordinator through random
// interleavings of triggers, task snapshots delivered in random order,
// declines, uploads that are slow or fail, metadata writes whose response
// is lost, savepoints, restarts (a crash: what was in flight is left
// behind) and the collections that follow every completion, against a
// store whose clock is off by up to 15 minutes either way. After every
// collection every complete checkpoint and savepoint must have all its
// files, and so must every checkpoint as it completes. At the end a fresh
// start must collect every orphan: the store then holds exactly what the
// retained checkpoints reference.
func TestGCRandomInterleavings(t *testing.T) {
	s := seed(t)
	steps := 300
	if env := os.Getenv("TIDEMARK_GC_STEPS"); env != "" {
		n, err := strconv.Atoi(env)
		if err != nil {
			t.Fatalf("TIDEMARK_GC_STEPS=%q: %v", env, err)
		}
		steps = n
	}
	rng := rand.New(rand.NewPCG(s, 7))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	mem := storage.NewMem()
	skew := time.Duration(rng.Int64N(int64(30*time.Minute))) - 15*time.Minute
	fs := faulty.New(skewed{Store: mem, skew: skew}, faulty.WithSeed(s))
	fs.Inject(faulty.Rule{Ops: faulty.OpPut, Key: faulty.KeyPrefix("shared/"), When: faulty.Probability(0.03)})
	fs.Inject(faulty.Rule{Ops: faulty.OpPutIfAbsent, Key: faulty.KeyContains("_metadata"), When: faulty.Probability(0.03), Effect: faulty.FailAfter})
	tasks := 1 + rng.IntN(3)
	cfg := checkpoint.Config{
		Job: "random", MaxParallelism: 128, Parallelism: tasks,
		Interval: time.Millisecond, Timeout: 5 * time.Second,
		MaxConcurrent: 1 + rng.IntN(3), Retained: 1 + rng.IntN(3), UploadConcurrency: 1 + rng.IntN(2),
		TolerableFailures: math.MaxInt32, LocalDir: t.TempDir(), Log: zap.NewNop(),
	}
	t.Logf("store clock off by %s; %d keyed tasks, max %d concurrent, %d retained, %d upload slots, %d steps",
		skew.Round(time.Second), tasks, cfg.MaxConcurrent, cfg.Retained, cfg.UploadConcurrency, steps)

	var bad violations
	cfg.OnGC = func(error) {
		// No collection runs now: every complete checkpoint is whole.
		if err := checkRetained(ctx, mem); err != nil {
			bad.add(fmt.Errorf("after a collection: %w", err))
		}
	}
	cfg.OnComplete = func(m *checkpoint.Metadata) {
		if miss := missingFiles(ctx, mem, m); len(miss) > 0 {
			bad.add(fmt.Errorf("checkpoint %d completed without %s", m.CheckpointID, strings.Join(miss, ", ")))
		}
	}

	var failMu sync.Mutex
	failed := map[string]int{}
	cfg.OnFailure = func(st checkpoint.Stats) {
		r := st.FailureReason
		if i := strings.IndexAny(r, ":0123456789"); i > 0 {
			r = r[:i]
		}
		failMu.Lock()
		failed[r]++
		failMu.Unlock()
	}
	defer func() {
		failMu.Lock()
		defer failMu.Unlock()
		t.Logf("failed checkpoints by reason: %v", failed)
	}()

	files := newContents()
	dbs := make([]simDB, tasks)
	for k := range dbs {
		for range 3 {
			dbs[k].flush(files, rng)
		}
	}

	var (
		c     *checkpoint.Coordinator
		g     *fakeGraph
		stop  func() error
		held  []part
		spWG  sync.WaitGroup
		spCtx context.Context
		spEnd context.CancelFunc
		spN   int
	)
	start := func() {
		t.Helper()
		m, err := checkpoint.FindRestorePoint(ctx, mem, checkpoint.RestoreOptions{})
		if err != nil {
			t.Fatalf("seed %d: restore: %v", s, err)
		}
		if m != nil {
			// The tasks go on from the restored state.
			for _, ts := range m.Tasks {
				dbs[ts.Task].files = nil
				for _, f := range ts.Files {
					if strings.HasSuffix(f.Name, ".sst") {
						dbs[ts.Task].files = append(dbs[ts.Task].files, f.Name)
					}
				}
			}
		}
		if c, err = checkpoint.New(ctx, cfg, fs, m); err != nil {
			t.Fatalf("seed %d: %v", s, err)
		}
		g = newFakeGraph(tasks)
		stop = runCoordinator(ctx, c, g)
		spCtx, spEnd = context.WithCancel(ctx)
		held = nil
	}
	crash := func() {
		t.Helper()
		spEnd()
		if err := stop(); err != nil {
			t.Fatalf("seed %d: coordinator: %v", s, err)
		}
		spWG.Wait()
		if err := checkRetained(ctx, mem); err != nil {
			bad.add(fmt.Errorf("after a crash: %w", err))
		}
	}
	start()
	for step := 0; step < steps; {
		if err := bad.get(); err != nil {
			crash()
			t.Fatalf("seed %d, step %d: %v", s, step, err)
		}
		triggered := g.take()
		if len(held) == 0 && len(triggered) == 0 {
			id, err := g.next(ctx)
			if err != nil {
				t.Fatalf("seed %d, step %d: %v", s, step, err)
			}
			triggered = append(triggered, id)
		}
		for _, id := range triggered {
			held = append(held, part{id: id, task: -1})
			for k := range tasks {
				held = append(held, part{id: id, task: k})
			}
		}
		switch r := rng.IntN(100); {
		case r < 80: // deliver a part
			i := rng.IntN(len(held))
			p := held[i]
			held = append(held[:i], held[i+1:]...)
			if p.task < 0 {
				c.SourceSnapshot(sourcePart(p.id))
				break
			}
			db := &dbs[p.task]
			switch rng.IntN(4) {
			case 0, 1:
				db.flush(files, rng)
			case 2:
				db.compact(files, rng, 1+rng.IntN(4))
			}
			// A checkpoint that failed meanwhile may lose its directory
			// under the snapshot: the task would decline it.
			if snap, err := db.snapshot(files, cfg.LocalDir, p.id, p.task); err == nil {
				c.TaskSnapshot(snap)
			} else {
				c.Decline(operators.TaskID{Stage: "keyed", Index: p.task}, p.id, err)
			}
			step++
		case r < 86: // a task declines
			i := rng.IntN(len(held))
			id := held[i].id
			c.Decline(operators.TaskID{Stage: "keyed", Index: rng.IntN(tasks)}, id, errors.New("declined by the test"))
			var rest []part
			for _, p := range held {
				if p.id != id {
					rest = append(rest, p)
				}
			}
			held = rest
			step++
		case r < 92: // uploads get slower or faster
			fs.SetLatency(faulty.OpPut, time.Duration(rng.IntN(3000))*time.Microsecond)
		case r < 95: // a savepoint
			spN++
			name := fmt.Sprintf("sp-%d", spN)
			ctx := spCtx
			spWG.Go(func() { _, _ = c.Savepoint(ctx, name) })
		case r < 97: // a crash and a restart
			crash()
			start()
			step++
		default: // let the background work go on
			runtime.Gosched()
		}
	}
	crash()
	if err := bad.get(); err != nil {
		t.Fatalf("seed %d: %v", s, err)
	}

	// A fresh start collects every orphan.
	fs.DisarmAll()
	fs.SetLatency(faulty.OpPut, 0)
	m, err := checkpoint.FindRestorePoint(ctx, mem, checkpoint.RestoreOptions{})
	if err != nil || m == nil {
		t.Fatalf("seed %d: no checkpoint to restore (%v)", s, err)
	}
	gcs := make(chan error, 1)
	quiet := cfg
	quiet.Interval = time.Hour
	quiet.OnGC = func(err error) { gcs <- err }
	quiet.OnComplete = nil
	c, err = checkpoint.New(ctx, quiet, fs, m)
	if err != nil {
		t.Fatal(err)
	}
	stop = runCoordinator(ctx, c, newFakeGraph(tasks))
	gcErr := await(t, ctx, gcs, "the start-up collection")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if gcErr != nil {
		t.Fatalf("seed %d: start-up collection: %v", s, gcErr)
	}
	if err := checkRetained(ctx, mem); err != nil {
		t.Fatalf("seed %d: %v", s, err)
	}
	ms, err := completeCheckpoints(ctx, mem)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	var nCheckpoints, nSavepoints int
	for _, m := range ms {
		if m.Savepoint != "" {
			nSavepoints++
			continue
		}
		nCheckpoints++
		want[checkpoint.MetadataKey(m.CheckpointID)] = true
		for _, ts := range m.Tasks {
			for _, f := range ts.Files {
				want[f.Key] = true
			}
			if ts.InFlight != nil {
				want[ts.InFlight.Key] = true
			}
		}
	}
	if nCheckpoints > cfg.Retained {
		t.Errorf("seed %d: %d complete checkpoints after a collection, %d retained", s, nCheckpoints, cfg.Retained)
	}
	infos, err := mem.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var orphans []string
	for _, in := range infos {
		if !want[in.Key] && !strings.HasPrefix(in.Key, "savepoints/") {
			orphans = append(orphans, in.Key)
		}
		delete(want, in.Key)
	}
	if len(orphans) > 0 {
		t.Errorf("seed %d: the start-up collection left %d orphans: %s", s, len(orphans), strings.Join(orphans, ", "))
	}
	t.Logf("%d checkpoints retained, %d savepoints, %d objects, %d deletions, %d puts", nCheckpoints, nSavepoints, len(infos),
		fs.Calls(faulty.OpDelete), fs.Calls(faulty.OpPut))
}
