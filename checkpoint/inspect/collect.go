package inspect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
)

// ErrJobRunning: an instance of the job holds its lease and renews it, so
// garbage collection is left to it.
var ErrJobRunning = errors.New("inspect: the job is running")

// CollectOptions configure Collect.
type CollectOptions struct {
	// Retained is checkpoint.retained (at least 1).
	Retained int
	// DryRun deletes nothing and needs no lease.
	DryRun bool
	// Holder identifies this tool in the job lease it takes for a real
	// collection.
	Holder checkpoint.Holder
	// LeaseTimeout is checkpoint.lease_timeout: when the lease is held,
	// how long the holder's heartbeat must stand still for it to count as
	// dead. Default 15s.
	LeaseTimeout time.Duration
	Log          *zap.Logger
	// SavepointsRetained is savepoints.retained: the complete savepoints
	// beyond the newest this many go (0 keeps them all). Partial
	// savepoints (without metadata) go whatever it says.
	SavepointsRetained int
}

// Collect runs the coordinator's garbage collection on the job's storage
// (checkpoint.CollectGarbage). A dry run only reports. A real one first
// takes the job's lease, so that no instance starts while it deletes: if
// an instance holds the lease and keeps renewing it for LeaseTimeout,
// Collect deletes nothing and fails with an error wrapping ErrJobRunning
// that names the holder (a running processor collects its garbage
// itself). A holder whose heartbeat stands still that long is dead, and
// its lease is taken over. The lease is released at the end.
func Collect(ctx context.Context, st storage.Store, o CollectOptions) (*checkpoint.GCReport, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.LeaseTimeout <= 0 {
		o.LeaseTimeout = 15 * time.Second
	}
	gc := checkpoint.GCOptions{Retained: o.Retained, DryRun: o.DryRun, Log: o.Log, Savepoints: true, SavepointsRetained: o.SavepointsRetained}
	if !o.DryRun {
		lease, err := takeLease(ctx, st, o)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
				o.Log.Warn("job lease not released: the next processor waits for it to time out", zap.Error(err))
			}
		}()
		gc.BeforeDelete = lease.Check
	}
	fences, err := checkpoint.LoadFences(ctx, st)
	if err != nil {
		return nil, err
	}
	gc.Fences = fences
	return checkpoint.CollectGarbage(ctx, st, gc)
}

// takeLease takes the job's lease, waiting at most about LeaseTimeout to
// see whether a holder is alive.
func takeLease(ctx context.Context, st storage.Store, o CollectOptions) (*checkpoint.Lease, error) {
	cfg := checkpoint.LeaseConfig{Holder: o.Holder, Timeout: o.LeaseTimeout, Log: o.Log}
	lease, err := checkpoint.AcquireLease(ctx, st, cfg)
	if !errors.Is(err, checkpoint.ErrLeaseHeld) {
		return lease, err
	}
	s, serr := checkpoint.ReadLease(ctx, st)
	if serr != nil {
		return nil, serr
	}
	o.Log.Info("the job's lease is held: waiting to see whether its holder still renews it",
		zap.Stringer("holder", s.Holder), zap.Int64("generation", s.Generation), zap.Duration("lease_timeout", o.LeaseTimeout))
	wctx, cancel := context.WithTimeout(ctx, o.LeaseTimeout+o.LeaseTimeout/2+time.Second)
	defer cancel()
	cfg.Wait = true
	lease, err = checkpoint.AcquireLease(wctx, st, cfg)
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return nil, fmt.Errorf("%w: %s holds the job's lease (generation %d) and renews it; a running processor collects its garbage itself: stop it first to collect with this command", ErrJobRunning, s.Holder, s.Generation)
	}
	return lease, err
}
