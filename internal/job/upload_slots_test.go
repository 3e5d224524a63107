package job_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/faulty"
	"github.com/tidemark/tidemark/internal/job"
)

// TestTimedOutUploadsFreeTheirSlots: uploads that hang (a stuck
// connection) make their checkpoint time out; the timeout cancels them, so
// the upload slots go to the next checkpoint, which completes once storage
// answers again, long before the hung uploads would have ended.
func TestTimedOutUploadsFreeTheirSlots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fs := faulty.New(storage.NewMem())
	fs.SetLatency(faulty.OpPut, time.Hour) // every upload hangs
	h := newHarness(t, input(16, 2, 500, 50), fs)
	h.target = -1
	spec := h.spec(10 * time.Millisecond)
	spec.Checkpoint.Timeout = 200 * time.Millisecond
	spec.Checkpoint.UploadConcurrency = 2 // one checkpoint's two tasks fill them
	spec.Checkpoint.TolerableFailures = math.MaxInt32
	fails := failures(&spec)
	stop, errc := run(ctx, job.New(spec))
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	s := waitFailure(t, ctx, fails, "timed out")
	t.Logf("checkpoint %d: %s", s.ID, s.FailureReason)
	fs.SetLatency(faulty.OpPut, 0) // storage answers again
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	select {
	case m := <-h.complete:
		t.Logf("checkpoint %d completed after the hung uploads were cancelled", m.CheckpointID)
	case err := <-errc:
		t.Fatalf("job ended: %v", err)
	case <-deadline.C:
		t.Fatal("no checkpoint completed within 10 s of storage answering again: the timed-out checkpoint's hung uploads still hold the upload slots")
	}
}
