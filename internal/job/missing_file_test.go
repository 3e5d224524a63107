package job_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
)

// missingFixture runs a keyed job whose state grows one flushed file per
// phase, against an in-memory store the test deletes files from.
type missingFixture struct {
	t        *testing.T
	ctx      context.Context
	rng      *rand.Rand
	mem      storage.Store
	stateDir string
	src      *phasedSource
	complete chan *checkpoint.Metadata
	opened   int // phases opened
}

const missingPhaseRecords = 2000

func newMissingFixture(t *testing.T, ctx context.Context) *missingFixture {
	rng := rand.New(rand.NewPCG(17, 18))
	var phases [][]operators.Record
	for p := range 4 {
		var recs []operators.Record
		for k := range missingPhaseRecords {
			v := make([]byte, 100)
			for i := range v {
				v[i] = byte(rng.Uint32())
			}
			recs = append(recs, operators.Record{Key: fmt.Appendf(nil, "p%d-key-%05d", p, k), Value: v})
		}
		phases = append(phases, recs)
	}
	return &missingFixture{t: t, ctx: ctx, rng: rng, mem: storage.NewMem(), stateDir: t.TempDir(),
		src: &phasedSource{phases: phases, wake: make(chan struct{}, 1)}, complete: make(chan *checkpoint.Metadata, 1000)}
}

func (f *missingFixture) spec(reuseChecks int) job.Spec {
	return job.Spec{
		Name: "missing", MaxParallelism: 128, Parallelism: 1,
		NewSources: func() ([]operators.Source, error) { return []operators.Source{f.src}, nil },
		Chain:      []operators.OperatorSpec{{Name: "store", New: func(int) (operators.Operator, error) { return &store{}, nil }}},
		Store:      f.mem, ExactlyOnce: true, StateDir: f.stateDir,
		Checkpoint: checkpoint.Config{Interval: 10 * time.Millisecond, Timeout: time.Minute, Retained: 2, ReuseChecks: reuseChecks,
			OnComplete: func(m *checkpoint.Metadata) { f.complete <- m }},
	}
}

// next waits for the next complete checkpoint.
func (f *missingFixture) next(errc <-chan error) *checkpoint.Metadata {
	f.t.Helper()
	select {
	case m := <-f.complete:
		return m
	case err := <-errc:
		f.t.Fatalf("job ended: %v", err)
	case <-f.ctx.Done():
		f.t.Fatal("no checkpoint completed")
	}
	return nil
}

// through opens phases one by one up to n, each flushed by a checkpoint
// of its own, and returns the checkpoint that consumed the last.
func (f *missingFixture) through(n int, errc <-chan error) *checkpoint.Metadata {
	f.t.Helper()
	var m *checkpoint.Metadata
	for f.opened < n {
		f.opened++
		f.src.open(f.opened)
		for m = f.next(errc); consumed(m) < int64(missingPhaseRecords*f.opened); m = f.next(errc) {
		}
	}
	return m
}

// deleteOne deletes a random shared file of m behind the processor's back
// and returns it, with the number of m's shared files.
func (f *missingFixture) deleteOne(m *checkpoint.Metadata) (checkpoint.FileHandle, int) {
	f.t.Helper()
	var files []checkpoint.FileHandle
	for _, fh := range m.Tasks[0].Files {
		if strings.HasPrefix(fh.Key, "shared/") {
			files = append(files, fh)
		}
	}
	if len(files) < 3 {
		f.t.Fatalf("checkpoint %d has %d shared files, want at least 3", m.CheckpointID, len(files))
	}
	gone := files[f.rng.IntN(len(files))]
	if err := f.mem.Delete(f.ctx, gone.Key); err != nil {
		f.t.Fatal(err)
	}
	return gone, len(files)
}

func (f *missingFixture) exists(key string) bool {
	f.t.Helper()
	_, err := f.mem.Stat(f.ctx, key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		f.t.Fatal(err)
	}
	return err == nil
}

// restorable checks that m restores into an empty state directory from
// storage alone.
func (f *missingFixture) restorable(m *checkpoint.Metadata) {
	f.t.Helper()
	var miss []string
	for _, fh := range m.Tasks[0].Files {
		if !f.exists(fh.Key) {
			miss = append(miss, fh.Key+" ("+fh.Name+")")
		}
	}
	if len(miss) > 0 {
		f.t.Fatalf("newest checkpoint %d lacks %s", m.CheckpointID, strings.Join(miss, ", "))
	}
	if got := dump(f.t, f.mem, m); len(got) == 0 {
		f.t.Fatal("restored state is empty")
	}
}

// TestMissingSharedFileIsUploadedAgain: a shared state file deleted from
// storage behind the running processor's back (a bucket lifecycle rule, a
// hand) while the state still holds it is uploaded again within a bounded
// number of checkpoints: each checks Config.ReuseChecks of the files it
// reuses, round-robin. The newest checkpoint then restores into an empty
// state directory.
func TestMissingSharedFileIsUploadedAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newMissingFixture(t, ctx)
	stop, errc := run(ctx, job.New(f.spec(1)))
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	m := f.through(3, errc)
	gone, n := f.deleteOne(m)
	// One check per checkpoint reaches each of n reused files within n
	// checkpoints; one more may have been in flight.
	bound := n + 1
	var after int
	for !f.exists(gone.Key) {
		if after == bound {
			t.Fatalf("%s (%s), deleted from storage after checkpoint %d, is still missing %d checkpoints later",
				gone.Key, gone.Name, m.CheckpointID, after)
		}
		f.next(errc)
		after++
	}
	t.Logf("%s deleted after checkpoint %d: back within %d checkpoints (bound %d)", gone.Name, m.CheckpointID, after, bound)
	f.restorable(f.through(4, errc))
}

// TestMissingFileOfRestoredCheckpoint: a shared file of the newest
// checkpoint deleted while the processor was down is uploaded again at
// start-up, although the restore used the local copy of the checkpoint and
// downloaded nothing. The newest checkpoint then restores into an empty
// state directory.
func TestMissingFileOfRestoredCheckpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newMissingFixture(t, ctx)
	stop, errc := run(ctx, job.New(f.spec(-1)))
	f.through(3, errc)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	newest, err := checkpoint.FindRestorePoint(ctx, f.mem, checkpoint.RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gone, _ := f.deleteOne(newest)
	// No checks while running (ReuseChecks -1): start-up alone must notice.
	stop, errc = run(ctx, job.New(f.spec(-1)))
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	m := f.next(errc)
	if !f.exists(gone.Key) {
		t.Fatalf("%s (%s of restored checkpoint %d), deleted while the processor was down, is still missing after checkpoint %d",
			gone.Key, gone.Name, newest.CheckpointID, m.CheckpointID)
	}
	f.restorable(f.through(4, errc))
}
