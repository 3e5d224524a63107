package checkpoint

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/storage"
)

// GCOptions configure CollectGarbage.
type GCOptions struct {
	// Retained is how many complete checkpoints retention keeps
	// (checkpoint.retained); at least 1.
	Retained int
	// Fences are the job lease's fences (LoadFences): a complete
	// checkpoint they rule out, a zombie's, is collected.
	Fences Fences
	// DryRun deletes nothing: the report says what a collection would
	// delete.
	DryRun bool
	// BeforeDelete, if set, is called before each deletion; an error
	// vetoes it and ends the collection (see Config.BeforeDelete). Not
	// called in a dry run.
	BeforeDelete func(ctx context.Context) error
	Log          *zap.Logger
	// Savepoints collects savepoints too: those beyond the newest
	// SavepointsRetained (0 keeps them all; savepoints.retained) and every
	// partial savepoint (a directory without metadata).
	Savepoints         bool
	SavepointsRetained int
}

// GCReport says what a garbage collection deleted, or would delete.
type GCReport struct {
	// Retained are the complete checkpoints kept, oldest first: the newest
	// GCOptions.Retained, and an older one that a recovery may fall back
	// to if the newest one's pending transactions turn out lost.
	Retained []int64
	// Expired are complete checkpoints beyond retention.
	Expired []int64
	// Zombies are complete checkpoints an instance completed after it had
	// lost the job: never restored.
	Zombies []int64
	// ExpiredSavepoints are savepoints beyond GCOptions.SavepointsRetained
	// and PartialSavepoints savepoint directories without metadata,
	// collected with GCOptions.Savepoints.
	ExpiredSavepoints []string
	PartialSavepoints []string
	// Deleted are the objects deleted (or to delete), in order.
	Deleted []Deletion
}

// Deletion is one object garbage collection deletes.
type Deletion struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	Reason string `json:"reason"`
}

// Bytes is the total size of the deletions.
func (r *GCReport) Bytes() int64 {
	var n int64
	for _, d := range r.Deleted {
		n += d.Size
	}
	return n
}

// CollectGarbage runs, on st (rooted at the job, see JobStore), the garbage
// collection a running job's coordinator runs at start-up, with the same
// rules in the same code: checkpoints beyond retention expire (but the
// fallback of the newest checkpoint's pending transactions), checkpoints of
// zombies go, directories of checkpoints that never completed go, and so
// do shared files no retained checkpoint references. It assumes that no
// instance of the job runs (nothing is in flight): take the job's lease
// before a real collection. With DryRun it deletes nothing and reports
// what it would delete.
func CollectGarbage(ctx context.Context, st storage.Store, o GCOptions) (*GCReport, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Retained < 1 {
		return nil, fmt.Errorf("checkpoint: garbage collection: retained must be at least 1, got %d", o.Retained)
	}
	l, err := list(ctx, st)
	if err != nil {
		return nil, err
	}
	// The newest checkpoint a restore would choose: its pending
	// transactions decide which older checkpoint stays as a fallback.
	var latest *Metadata
	plan, err := PlanRestore(ctx, st, RestoreOptions{Fences: o.Fences, Fallback: true, Log: o.Log})
	switch {
	case err == nil:
		latest = plan.Newest
	case errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnknownVersion):
		// No complete checkpoint can be restored: none needs a fallback.
	default:
		return nil, err
	}
	sizes := map[string]int64{}
	infos, err := st.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("checkpoint: garbage collection: list: %w", err)
	}
	for _, in := range infos {
		sizes[in.Key] = in.Size
	}
	c := &Coordinator{
		cfg: Config{Retained: o.Retained, Fences: o.Fences, BeforeDelete: o.BeforeDelete, Log: o.Log},
		st:  st, log: o.Log, reg: newRegistry(),
		gcReport: &GCReport{}, gcDry: o.DryRun, gcGone: map[string]bool{},
	}
	err = c.gc(ctx, gcPlan{retained: o.Retained, floor: fallbackFloor(latest), pending: map[int64]bool{}, nextID: l.maxID + 1})
	if err == nil && o.Savepoints {
		err = c.collectSavepoints(ctx, o.SavepointsRetained)
	}
	for i := range c.gcReport.Deleted {
		c.gcReport.Deleted[i].Size = sizes[c.gcReport.Deleted[i].Key]
	}
	return c.gcReport, err
}
