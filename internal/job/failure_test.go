package job_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/faulty"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/internal/restart"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/builtin"
)

func newHarness(t *testing.T, parts [][]operators.Record, st storage.Store) *harness {
	return &harness{t: t, parts: parts, sources: 2, store: st, stateDir: t.TempDir(), target: total(parts),
		done: make(chan struct{}), complete: make(chan *checkpoint.Metadata, 1)}
}

// reference returns the state an uninterrupted run over parts ends with.
func reference(t *testing.T, ctx context.Context, parts [][]operators.Record) []byte {
	t.Helper()
	h := newHarness(t, parts, storage.NewMem())
	n := total(parts)
	m := h.runUntil(ctx, job.New(h.spec(20*time.Millisecond)), func(m *checkpoint.Metadata) bool { return consumed(m) == n })
	return dump(t, h.store, m)
}

// run starts j and returns a function that stops it and returns Run's
// error.
func run(ctx context.Context, j *job.Job) (stop func() error, errc <-chan error) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan error, 1)
	go func() { ch <- j.Run(ctx) }()
	return func() error { cancel(); return <-ch }, ch
}

func failures(spec *job.Spec) <-chan checkpoint.Stats {
	ch := make(chan checkpoint.Stats, 1000)
	spec.Checkpoint.OnFailure = func(s checkpoint.Stats) {
		select {
		case ch <- s:
		default:
		}
	}
	return ch
}

func waitFailure(t *testing.T, ctx context.Context, ch <-chan checkpoint.Stats, contains string) checkpoint.Stats {
	t.Helper()
	for {
		select {
		case s := <-ch:
			if strings.Contains(s.FailureReason, contains) {
				return s
			}
		case <-ctx.Done():
			t.Fatalf("no checkpoint failed with %q", contains)
		}
	}
}

// TestUploadFailureAbortsCheckpoint: while uploads fail, checkpoints fail
// and processing goes on; once storage heals, checkpoints complete with
// exactly the uninterrupted run's state.
func TestUploadFailureAbortsCheckpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts := input(7, 4, 3000, 200)
	want := reference(t, ctx, parts)

	fs := faulty.New(storage.NewMem())
	broken := fs.Inject(faulty.Rule{Ops: faulty.OpPut, Key: faulty.KeyPrefix("shared/")})
	h := newHarness(t, parts, fs)
	spec := h.spec(10 * time.Millisecond)
	spec.Checkpoint.TolerableFailures = math.MaxInt32
	fails := failures(&spec)
	stop, errc := run(ctx, job.New(spec))
	s := waitFailure(t, ctx, fails, "upload")
	t.Logf("checkpoint %d failed: %s", s.ID, s.FailureReason)
	// Processing does not wait for checkpoints: every record is processed
	// while every checkpoint fails.
	select {
	case <-h.done:
	case err := <-errc:
		t.Fatalf("job ended: %v", err)
	case <-ctx.Done():
		t.Fatal("records were not processed while checkpoints failed")
	}
	select {
	case m := <-h.complete:
		t.Fatalf("checkpoint %d completed while uploads failed", m.CheckpointID)
	default:
	}
	broken.Disarm()
	h.finish(ctx, stop, errc, want, "after failed checkpoints")
}

// finish waits for a checkpoint that consumed every record, stops the job
// and checks its state equals want, the uninterrupted run's.
func (h *harness) finish(ctx context.Context, stop func() error, errc <-chan error, want []byte, what string) {
	h.t.Helper()
	var end *checkpoint.Metadata
	for end == nil {
		select {
		case m := <-h.complete:
			if consumed(m) == total(h.parts) {
				end = m
			}
		case err := <-errc:
			h.t.Fatalf("job ended: %v", err)
		case <-ctx.Done():
			h.t.Fatalf("no checkpoint consumed every record %s", what)
		}
	}
	if err := stop(); err != nil {
		h.t.Fatal(err)
	}
	if got := dump(h.t, h.store, end); string(got) != string(want) {
		h.t.Fatalf("state %s differs from the uninterrupted run's", what)
	}
}

// TestCheckpointTimeout: a checkpoint whose upload outlasts the timeout is
// aborted; later ones complete.
func TestCheckpointTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fs := faulty.New(storage.NewMem())
	fs.SetLatency(faulty.OpPut, 5*time.Second)
	h := newHarness(t, input(8, 2, 500, 50), fs)
	spec := h.spec(10 * time.Millisecond)
	spec.Checkpoint.Timeout = 100 * time.Millisecond
	spec.Checkpoint.TolerableFailures = math.MaxInt32
	fails := failures(&spec)
	stop, _ := run(ctx, job.New(spec))
	s := waitFailure(t, ctx, fails, "timed out")
	t.Logf("checkpoint %d: %s after %s", s.ID, s.FailureReason, s.Duration)
	fs.SetLatency(faulty.OpPut, 0)
	select {
	case m := <-h.complete:
		if m.CheckpointID <= s.ID {
			t.Errorf("checkpoint %d completed after %d timed out", m.CheckpointID, s.ID)
		}
	case <-ctx.Done():
		t.Fatal("no checkpoint completed after the latency went away")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestTooManyFailuresRestartsJob: more failures in a row than tolerated
// restart the job from its newest complete checkpoint, and it ends with the
// uninterrupted run's state.
func TestTooManyFailuresRestartsJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts := input(9, 4, 3000, 200)
	want := reference(t, ctx, parts)

	fs := faulty.New(storage.NewMem())
	h := newHarness(t, parts, fs)
	h.target = -1
	spec := h.spec(10 * time.Millisecond)
	spec.Checkpoint.TolerableFailures = 2
	fails := failures(&spec)
	j := job.New(spec)
	readies := make(chan struct{}, 10)
	j.SetOnReady(func() { readies <- struct{}{} })
	stop, errc := run(ctx, j)
	<-readies
	var first *checkpoint.Metadata
	select {
	case first = <-h.complete:
	case <-ctx.Done():
		t.Fatal("no first checkpoint")
	}
	broken := fs.Inject(faulty.Rule{Ops: faulty.OpPut | faulty.OpPutIfAbsent})
	for range 3 {
		waitFailure(t, ctx, fails, "")
	}
	select {
	case <-readies:
		t.Logf("job restarted after 3 failures; newest complete checkpoint before them: %d", first.CheckpointID)
	case err := <-errc:
		t.Fatalf("job ended instead of restarting: %v", err)
	case <-ctx.Done():
		t.Fatal("job did not restart")
	}
	broken.Disarm()
	h.finish(ctx, stop, errc, want, "after the restart")
}

// TestRestartsAreBounded: with a failure-rate limit, a store that never
// heals makes the job fail with ErrFailureRate (wrapping the last failure,
// ErrTooManyFailures) once the limit is passed.
func TestRestartsAreBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fs := faulty.New(storage.NewMem())
	fs.Inject(faulty.Rule{Ops: faulty.OpPut | faulty.OpPutIfAbsent})
	h := newHarness(t, input(10, 2, 100, 10), fs)
	spec := h.spec(5 * time.Millisecond)
	spec.Restart = fastRestart()
	spec.Restart.MaxFailures = 2
	j := job.New(spec)
	err := j.Run(ctx)
	if !errors.Is(err, restart.ErrFailureRate) || !errors.Is(err, checkpoint.ErrTooManyFailures) {
		t.Fatalf("Run = %v, want ErrFailureRate and ErrTooManyFailures", err)
	}
	if st := j.Status(); st.State != job.StateFailed || st.Restarts != 2 || st.Ready || st.LastFailure == nil || st.LastFailure.Class != "permanent" {
		t.Fatalf("status after giving up: %+v", st)
	}
}

// TestCrashBetweenUploadAndMetadata: a process that uploaded a checkpoint's
// files but died before its metadata left garbage; the next start restores
// the checkpoint before, collects the garbage, and ends with the
// uninterrupted run's state.
func TestCrashBetweenUploadAndMetadata(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts := input(11, 4, 3000, 200)
	want := reference(t, ctx, parts)

	mem := storage.NewMem()
	fs := faulty.New(mem)
	// The second metadata write fails: that checkpoint's files are all
	// uploaded, its metadata never written.
	fs.Inject(faulty.Rule{Ops: faulty.OpPutIfAbsent, Key: faulty.KeyContains("_metadata"), When: faulty.From(2)})
	h := newHarness(t, parts, fs)
	h.target = -1
	spec := h.spec(10 * time.Millisecond)
	spec.Checkpoint.TolerableFailures = math.MaxInt32
	fails := failures(&spec)
	stop, _ := run(ctx, job.New(spec))
	s := waitFailure(t, ctx, fails, "write metadata")
	_ = stop() // the crash
	t.Logf("crashed after checkpoint %d's upload: %s", s.ID, s.FailureReason)

	good, err := checkpoint.FindRestorePoint(ctx, mem, checkpoint.RestoreOptions{})
	if err != nil || good == nil {
		t.Fatalf("no complete checkpoint before the crash: %v", err)
	}
	referenced := map[string]bool{}
	for _, ts := range good.Tasks {
		for _, f := range ts.Files {
			referenced[f.Key] = true
		}
	}
	orphans := map[string]bool{}
	infos, err := mem.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if !referenced[in.Key] && !strings.HasSuffix(in.Key, "_metadata") {
			if id, _ := checkpointOf(in.Key); id == good.CheckpointID {
				continue // the good checkpoint's exclusive files
			}
			orphans[in.Key] = true
		}
	}
	if len(orphans) == 0 {
		t.Fatal("the failed checkpoint left nothing behind: the test proves nothing")
	}

	// Restart in a fresh process.
	h2 := newHarness(t, parts, mem)
	h2.target = -1
	spec2 := h2.spec(10 * time.Millisecond)
	gcs := make(chan error, 100)
	spec2.Checkpoint.OnGC = func(err error) { gcs <- err }
	n := total(parts)
	end := h2.runUntilGC(ctx, job.New(spec2), gcs, func(m *checkpoint.Metadata) bool { return consumed(m) == n })
	for key := range orphans {
		if _, err := mem.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("garbage %s left by the crash was not collected (%v)", key, err)
		}
	}
	if end.CheckpointID <= s.ID {
		t.Errorf("checkpoint ids went back: %d after %d", end.CheckpointID, s.ID)
	}
	if got := dump(t, mem, end); string(got) != string(want) {
		t.Fatal("state after the crash differs from the uninterrupted run's")
	}
}

func checkpointOf(key string) (int64, bool) {
	var id int64
	if _, err := fmtSscanf(key, "chk-%d/", &id); err != nil {
		return 0, false
	}
	return id, true
}

// runUntilGC is runUntil that also waits for the first garbage collection.
func (h *harness) runUntilGC(ctx context.Context, j *job.Job, gcs <-chan error, stop func(*checkpoint.Metadata) bool) *checkpoint.Metadata {
	h.t.Helper()
	select {
	case err := <-gcs:
		h.t.Fatalf("collection before the job ran: %v", err)
	default:
	}
	m := h.runUntil(ctx, j, stop)
	select {
	case err := <-gcs:
		if err != nil {
			h.t.Fatalf("garbage collection: %v", err)
		}
	case <-ctx.Done():
		h.t.Fatal("no garbage collection")
	}
	return m
}

// TestGCNeverDeletesReferencedFiles runs many checkpoints, with compactions
// replacing state files and slow uploads widening every race, and checks
// that every retained checkpoint can be restored and that collection did
// delete the files nothing references any more.
func TestGCNeverDeletesReferencedFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	mem := storage.NewMem()
	fs := faulty.New(mem)
	fs.SetLatency(faulty.OpPut, time.Millisecond)
	parts := input(12, 4, 5000, 2000)
	h := newHarness(t, parts, fs)
	h.target = -1
	spec := h.spec(5 * time.Millisecond)
	spec.Checkpoint.Retained = 2
	spec.Checkpoint.MaxConcurrent = 2
	n := total(parts)
	var count int
	h.runUntil(ctx, job.New(spec), func(m *checkpoint.Metadata) bool {
		count++
		return consumed(m) == n && count >= 30
	})
	l, err := mem.List(ctx, "chk-")
	if err != nil {
		t.Fatal(err)
	}
	var retained []*checkpoint.Metadata
	for _, in := range l {
		if strings.HasSuffix(in.Key, "/_metadata") {
			rc, err := mem.Get(ctx, in.Key)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(rc)
			rc.Close()
			m, err := checkpoint.DecodeMetadata(data)
			if err != nil {
				t.Fatal(err)
			}
			retained = append(retained, m)
		}
	}
	if len(retained) == 0 || len(retained) > 3 {
		t.Fatalf("%d checkpoints retained, want 1 to 3 (2 plus one completing as the job stopped)", len(retained))
	}
	for _, m := range retained {
		for _, ts := range m.Tasks {
			for _, f := range ts.Files {
				if _, err := mem.Stat(ctx, f.Key); err != nil {
					t.Errorf("checkpoint %d references %s: %v", m.CheckpointID, f.Key, err)
				}
			}
		}
		dump(t, mem, m) // restorable
	}
	if d := fs.Calls(faulty.OpDelete); d == 0 {
		t.Errorf("%d checkpoints and nothing collected", count)
	} else {
		t.Logf("%d checkpoints, %d deletions, %d retained", count, d, len(retained))
	}
}

// zombieStore lets another instance win every metadata write.
type zombieStore struct{ storage.Store }

func (z zombieStore) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	if strings.HasSuffix(key, "_metadata") {
		_ = z.Store.PutIfAbsent(ctx, key, strings.NewReader("x"), 1)
	}
	return z.Store.PutIfAbsent(ctx, key, r, size)
}

// TestZombieStops: an instance that loses the race to complete a
// checkpoint learns it is a zombie and stops.
func TestZombieStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := newHarness(t, input(13, 2, 100, 10), zombieStore{storage.NewMem()})
	err := job.New(h.spec(5 * time.Millisecond)).Run(ctx)
	if !errors.Is(err, checkpoint.ErrZombie) {
		t.Fatalf("Run = %v, want ErrZombie", err)
	}
}

// slowSource delays the barriers of one source: each Poll takes delay,
// whatever its context says, like a source stuck in a slow fetch.
type slowSource struct {
	*builtin.SliceSource
	delay time.Duration
}

func (s *slowSource) Poll(ctx context.Context) ([]operators.Record, int64, error) {
	recs, wm, err := s.SliceSource.Poll(ctx)
	if len(recs) > 0 {
		<-time.After(s.delay)
	}
	return recs, wm, err
}

// TestUnalignedCheckpointRestores: with one slow source, barriers time out
// aligning, checkpoints become unaligned and store in-flight records; a
// restore from one ends with the uninterrupted run's state.
func TestUnalignedCheckpointRestores(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	parts := input(14, 2, 400, 50)
	want := reference(t, ctx, parts)
	n := total(parts)

	h := newHarness(t, parts, storage.NewMem())
	h.target = -1
	spec := h.spec(10 * time.Millisecond)
	spec.AlignmentTimeout = 5 * time.Millisecond
	newSources := spec.NewSources
	spec.NewSources = func() ([]operators.Source, error) {
		srcs, err := newSources()
		if err == nil {
			s := srcs[1].(*builtin.SliceSource)
			s.BatchSize = 8
			srcs[1] = &slowSource{SliceSource: s, delay: 30 * time.Millisecond}
		}
		return srcs, err
	}
	mid := h.runUntil(ctx, job.New(spec), func(m *checkpoint.Metadata) bool {
		if !m.Unaligned {
			return false
		}
		for _, ts := range m.Tasks {
			if ts.InFlight != nil && consumed(m) < n {
				return true
			}
		}
		return false
	})
	t.Logf("unaligned checkpoint %d with in-flight records, %d of %d consumed", mid.CheckpointID, consumed(mid), n)

	h.stateDir = t.TempDir()
	// The state of an unaligned checkpoint lacks its in-flight records:
	// compare one that has none.
	end := h.runUntil(ctx, job.New(spec), func(m *checkpoint.Metadata) bool {
		for _, ts := range m.Tasks {
			if ts.InFlight != nil {
				return false
			}
		}
		return consumed(m) == n
	})
	if got := dump(t, h.store, end); string(got) != string(want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Logf("first difference at line %d:\n got %s\nwant %s", i, gl[i], wl[i])
				break
			}
		}
		t.Fatalf("state restored from an unaligned checkpoint differs from the uninterrupted run's (%d vs %d lines)", len(gl), len(wl))
	}
}

// TestAtLeastOnceLosesNothing: without alignment, a restore may count some
// records twice but never misses one.
func TestAtLeastOnceLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts := input(15, 4, 3000, 100)
	n := total(parts)
	want := map[string]int64{}
	for _, p := range parts {
		for _, r := range p {
			want[string(r.Key)]++
		}
	}
	h := newHarness(t, parts, storage.NewMem())
	h.target = -1
	spec := h.spec(5 * time.Millisecond)
	spec.ExactlyOnce = false
	mid := h.runUntil(ctx, job.New(spec), func(m *checkpoint.Metadata) bool { return consumed(m) >= n/2 })
	t.Logf("stopped after checkpoint %d (%d of %d consumed)", mid.CheckpointID, consumed(mid), n)
	h.stateDir = t.TempDir()
	end := h.runUntil(ctx, job.New(spec), func(m *checkpoint.Metadata) bool { return consumed(m) == n })
	got := counts(t, h.store, end)
	var sum int64
	for _, c := range got {
		sum += c
	}
	t.Logf("%d records, %d counted (%d keys)", n, sum, len(got))
	if len(got) != len(want) {
		t.Errorf("%d keys counted, want %d", len(got), len(want))
	}
	for k, c := range want {
		if got[k] < c {
			t.Errorf("key %s counted %d times, want at least %d", k, got[k], c)
		}
	}
}

// counts reads the Count operator's state of checkpoint m.
func counts(t *testing.T, st storage.Store, m *checkpoint.Metadata) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(dump(t, st, m))), "\n") {
		_, kv, _ := strings.Cut(line, " ")
		k, v, _ := strings.Cut(kv, "=")
		key, err1 := hex.DecodeString(k)
		val, err2 := hex.DecodeString(v)
		if err1 != nil || err2 != nil || len(val) != 9 || !bytes.Contains(key, []byte("count")) {
			continue // not a count (the max parallelism record, say)
		}
		// The user key is the key's last length-prefixed part.
		user := key[bytes.LastIndex(key, []byte("count"))+len("count")+1:]
		out[string(user)] = int64(binary.BigEndian.Uint64(val[1:]) ^ 1<<63)
	}
	if len(out) == 0 {
		t.Fatal("no counts in the state")
	}
	return out
}
