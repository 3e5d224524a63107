package job_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/httpapi"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
)

// blockingList blocks List while armed, until release is closed: a
// restore that takes as long as the test wants.
type blockingList struct {
	storage.Store
	armed   atomic.Bool
	blocked chan struct{} // closed when a List blocked
	once    atomic.Bool
	release chan struct{}
}

func (b *blockingList) List(ctx context.Context, prefix string) ([]storage.Info, error) {
	if b.armed.Load() {
		if b.once.CompareAndSwap(false, true) {
			close(b.blocked)
		}
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.Store.List(ctx, prefix)
}

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestReadyzDuringRestartAndRestore: /readyz of a server connected to a
// running job answers 200 while it runs, 503 while it waits to restart
// after a failure and 503 while it restores (held in the middle of its
// restore here), and 200 again once it runs; the job's status then names
// the restore (checkpoint, attempt, done) and the failure.
func TestReadyzDuringRestartAndRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := &blockingList{Store: storage.NewMem(), blocked: make(chan struct{}), release: make(chan struct{})}
	parts := input(31, 2, 100000, 20)
	h := newHarness(t, parts, st)
	h.target = -1
	spec := h.spec(5 * time.Millisecond)
	var armed atomic.Bool
	spec.Chain = append(spec.Chain, operators.OperatorSpec{Name: "fail", New: func(int) (operators.Operator, error) {
		return &failOnNotify{armed: &armed}, nil
	}})
	spec.Restart = fastRestart()
	gate := make(chan time.Time)
	spec.After = func(time.Duration) <-chan time.Time { return gate }
	j := job.New(spec)

	srv, err := httpapi.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.SetJob(j)
	sctx, scancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, zap.NewNop()) }()
	defer func() {
		http.DefaultClient.CloseIdleConnections()
		scancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + srv.Addr()

	stop, errc := run(ctx, j)
	<-h.complete
	waitStatus(t, ctx, j, errc, "running", func(s job.Status) bool { return s.Ready })
	if code, body := readyz(t, base); code != http.StatusOK {
		t.Fatalf("/readyz while running = %d %q", code, body)
	}
	first := j.LastRestore()
	if first == nil || !first.Done || first.Checkpoint != 0 || first.Attempt != 1 {
		t.Fatalf("restore of a fresh start: %+v", first)
	}

	armed.Store(true)
	waitStatus(t, ctx, j, errc, "restarting", func(s job.Status) bool { return s.State == job.StateRestarting })
	if code, body := readyz(t, base); code != http.StatusServiceUnavailable || !strings.Contains(body, "restarting in") {
		t.Fatalf("/readyz while waiting to restart = %d %q", code, body)
	}
	armed.Store(false)
	st.armed.Store(true)
	gate <- time.Now()
	select {
	case <-st.blocked:
	case <-ctx.Done():
		t.Fatal("the restore never listed the storage")
	}
	s := j.Status()
	if code, body := readyz(t, base); code != http.StatusServiceUnavailable || !strings.Contains(body, "restoring") || s.State != job.StateRestoring {
		t.Fatalf("/readyz while restoring = %d %q, state %q", code, body, s.State)
	}
	st.armed.Store(false)
	close(st.release)
	s = waitStatus(t, ctx, j, errc, "running again", func(s job.Status) bool { return s.Ready && s.Attempt == 2 })
	if code, body := readyz(t, base); code != http.StatusOK {
		t.Fatalf("/readyz after the restore = %d %q", code, body)
	}
	r := s.LastRestore
	if r == nil || !r.Done || r.Attempt != 2 || r.Checkpoint == 0 || r.Duration <= 0 || r.StateSize <= 0 {
		t.Fatalf("last restore %+v", r)
	}
	if len(s.RecentFailures) != 1 || !strings.Contains(s.RecentFailures[0].Error, errNotify.Error()) || s.RecentFailures[0].Class != "transient" {
		t.Fatalf("recent failures %+v", s.RecentFailures)
	}
	t.Logf("restored checkpoint %d (%d bytes) in %s", r.Checkpoint, r.StateSize, r.Duration)
	if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// TestProgress: the job reports every source partition's position at the
// newest completed checkpoint, with a rate once two have completed.
func TestProgress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	parts := input(32, 4, 100000, 20)
	h := newHarness(t, parts, storage.NewMem())
	h.target = -1
	j := job.New(h.spec(5 * time.Millisecond))
	if p := j.Progress(); len(p) != 0 {
		t.Fatalf("progress before a checkpoint: %+v", p)
	}
	stop, _ := run(ctx, j)
	defer func() {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}()
	for {
		var m *checkpoint.Metadata
		select {
		case m = <-h.complete:
		case <-ctx.Done():
			t.Fatal("no rate before the deadline")
		}
		p := j.Progress()
		if len(p) != 4 {
			t.Fatalf("progress of 4 partitions: %+v", p)
		}
		if p[0].Checkpoint < m.CheckpointID || p[0].Topic != "in" || p[0].Partition != 0 || p[3].Partition != 3 {
			t.Fatalf("progress %+v after checkpoint %d", p, m.CheckpointID)
		}
		if p[0].Rate != nil && p[0].Offset > 0 {
			t.Logf("partition 0 at %d, %.0f offsets/s", p[0].Offset, *p[0].Rate)
			return
		}
	}
}

// TestSavepointsRetainedLive: a running job deletes, at start, a partial
// savepoint a crash left, and after each savepoint the ones beyond
// savepoints.retained.
func TestSavepointsRetainedLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mem := storage.NewMem()
	const partial = "savepoints/cut-short/keyed-0/000001.sst"
	if err := mem.Put(ctx, partial, strings.NewReader("half"), 4); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, input(33, 2, 100000, 20), mem)
	h.target = -1
	spec := h.spec(5 * time.Millisecond)
	spec.Checkpoint.SavepointsRetained = 2
	j := job.New(spec)
	stop, _ := run(ctx, j)
	defer func() {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}()
	<-h.complete
	gone := func(key string) bool { _, err := mem.Stat(ctx, key); return errors.Is(err, storage.ErrNotFound) }
	for !gone(partial) {
		select {
		case <-ctx.Done():
			t.Fatal("the partial savepoint was not collected")
		case <-h.complete: // a checkpoint interval later
		}
	}
	for _, name := range []string{"sp-1", "sp-2", "sp-3"} {
		if _, err := j.Savepoint(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	for !gone("savepoints/sp-1/_metadata") {
		select {
		case <-ctx.Done():
			t.Fatal("savepoint sp-1 was not expired")
		case <-h.complete:
		}
	}
	l, err := checkpoint.List(ctx, mem)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(l.Savepoints, ",") != "sp-2,sp-3" {
		t.Fatalf("savepoints left: %v (partial %v)", l.Savepoints, l.PartialSavepoints)
	}
}
