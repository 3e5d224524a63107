package job_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/faulty"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/internal/promtest"
)

// TestJobMetrics: a job given Metrics exports its checkpoints, records,
// restarts and restores: checkpoints fail while storage refuses writes,
// the job restarts in process (counts carry on, a second restore is
// timed); a new process on a fresh state directory restores the newest
// checkpoint by downloading its state, and says how much.
func TestJobMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fs := faulty.New(storage.NewMem())
	h := newHarness(t, input(11, 4, 3000, 200), fs)
	h.target = -1
	reg := prometheus.NewPedanticRegistry()
	m, err := job.NewMetrics(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := h.spec(10 * time.Millisecond)
	spec.Metrics = m
	fails := failures(&spec)
	j := job.New(spec)
	readies := make(chan struct{}, 10)
	j.SetOnReady(func() { readies <- struct{}{} })
	stop, errc := run(ctx, j)
	<-readies
	<-h.complete
	broken := fs.Inject(faulty.Rule{Ops: faulty.OpPut | faulty.OpPutIfAbsent})
	waitFailure(t, ctx, fails, "")
	select {
	case <-readies:
	case err := <-errc:
		t.Fatalf("job ended instead of restarting: %v", err)
	case <-ctx.Done():
		t.Fatal("job did not restart")
	}
	broken.Disarm()
	var last *checkpoint.Metadata
	select {
	case last = <-h.complete:
	case <-ctx.Done():
		t.Fatal("no checkpoint after the restart")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]func(float64) bool{
		"tidemark_checkpoints_completed_total":    func(v float64) bool { return v >= 2 },
		"tidemark_checkpoints_failed_total":       func(v float64) bool { return v >= 1 },
		"tidemark_job_restarts_total":             func(v float64) bool { return v == 1 },
		"tidemark_checkpoint_full_size_bytes":     func(v float64) bool { return v > 0 },
		"tidemark_restore_state_size_bytes":       func(v float64) bool { return v > 0 },
		"tidemark_source_records_in_total":        func(v float64) bool { return v > 0 },
		"tidemark_operator_records_in_total":      func(v float64) bool { return v > 0 },
		"tidemark_restore_downloaded_bytes_total": func(v float64) bool { return v >= 0 },
	} {
		if v := promtest.Sum(t, reg, name); !check(v) {
			t.Errorf("%s = %v", name, v)
		}
	}
	if n := promtest.HistogramCount(t, reg, "tidemark_restore_duration_seconds"); n != 2 {
		t.Errorf("%d restores timed, want 2 (the start and the restart)", n)
	}

	// A new process elsewhere: nothing local, everything downloaded.
	h2 := newHarness(t, h.parts, fs)
	h2.target = -1
	reg2 := prometheus.NewPedanticRegistry()
	m2, err := job.NewMetrics(reg2, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec2 := h2.spec(time.Hour)
	spec2.Metrics = m2
	j2 := job.New(spec2)
	ready2 := make(chan struct{}, 1)
	j2.SetOnReady(func() { ready2 <- struct{}{} })
	stop2, _ := run(ctx, j2)
	select {
	case <-ready2:
	case <-ctx.Done():
		t.Fatal("the new process did not restore")
	}
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	size := promtest.Sum(t, reg2, "tidemark_restore_state_size_bytes")
	if size < float64(last.StateSize()) {
		t.Errorf("restored state of %v bytes, want at least the checkpoint's %d", size, last.StateSize())
	}
	if d := promtest.Sum(t, reg2, "tidemark_restore_downloaded_bytes_total"); d < size || size == 0 {
		t.Errorf("downloaded %v bytes for a restore of %v bytes with no local copy", d, size)
	}
}
