package job_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
)

// takenLease is a job lease that a newer instance takes over when the
// test closes lost.
type takenLease struct {
	lost chan struct{}
	once sync.Once
}

func (l *takenLease) Generation() int64 { return 1 }
func (l *takenLease) Check(context.Context) error {
	select {
	case <-l.lost:
		return fmt.Errorf("%w: generation 2 took the job over", checkpoint.ErrZombie)
	default:
		return nil
	}
}
func (l *takenLease) Fence(context.Context, int64) error { return nil }
func (l *takenLease) Lost() <-chan struct{}              { return l.lost }
func (l *takenLease) take()                              { l.once.Do(func() { close(l.lost) }) }

// TestZombieStopsDuringRestartPause: an instance waiting to restart after
// failures (its pause grows to tens of seconds while the broker is down)
// whose lease a newer instance takes meanwhile stops at once as a zombie,
// naming the takeover, instead of after the pause (the schedule test's
// "wake" step: a paused instance woken during a broker outage kept
// running for its 33 s pause).
func TestZombieStopsDuringRestartPause(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lease := &takenLease{lost: make(chan struct{})}
	pausing := make(chan struct{}, 1)
	spec := job.Spec{
		Name: "zombie-pause", MaxParallelism: 8, Parallelism: 1,
		NewSources: func() ([]operators.Source, error) { return nil, errors.New("broker unreachable") },
		Store:      storage.NewMem(),
		StateDir:   t.TempDir(),
		Owner:      lease,
		// The pause never ends by itself; the lease is taken once the
		// job waits in it.
		After: func(time.Duration) <-chan time.Time {
			select {
			case pausing <- struct{}{}:
			default:
			}
			return nil
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- job.New(spec).Run(ctx) }()
	select {
	case <-pausing:
	case <-ctx.Done():
		t.Fatal("the job did not pause to restart")
	}
	lease.take()
	select {
	case err := <-errc:
		if !errors.Is(err, checkpoint.ErrZombie) {
			t.Fatalf("Run = %v, want a zombie error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the zombie still waits for its restart pause 10 s after it lost the job")
	}
}
