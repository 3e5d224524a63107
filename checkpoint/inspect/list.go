package inspect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
)

// Entry is one complete checkpoint or savepoint.
type Entry struct {
	// Name designates it as --from and Describe take it: the checkpoint
	// id, or savepoints/NAME.
	Name         string `json:"name"`
	CheckpointID int64  `json:"checkpoint_id"`
	Savepoint    string `json:"savepoint,omitempty"`
	// CompletedAt is when its metadata was written (zero if unreadable).
	CompletedAt time.Time `json:"completed_at,omitzero"`
	// Size is the size of its state files: what a restore downloads.
	Size int64 `json:"size"`
	// Incremental is the size of the files the previous complete
	// checkpoint does not reference: about what this one uploaded. A
	// savepoint's is its size.
	Incremental int64 `json:"incremental"`
	// Generation is the job lease generation of the instance that wrote
	// it; Origin the restore that started its lineage (see
	// checkpoint.Metadata).
	Generation int64  `json:"generation"`
	Origin     string `json:"origin,omitempty"`
	// Valid: its metadata reads and verifies, and no lease fence rules it
	// out. Problem says why not.
	Valid   bool   `json:"valid"`
	Problem string `json:"problem,omitempty"`
	// Restore: a start without --from restores this one.
	Restore bool `json:"restore,omitempty"`

	// Metadata is nil if it could not be read.
	Metadata *checkpoint.Metadata `json:"-"`
}

// Listing is what a job's checkpoint storage holds.
type Listing struct {
	// Checkpoints are the complete checkpoints, oldest first.
	Checkpoints []Entry `json:"checkpoints"`
	// Savepoints are the complete savepoints, by name.
	Savepoints []Entry `json:"savepoints"`
	// Incomplete are ids of checkpoint directories without metadata (in
	// flight, failed, or left by a crash: garbage once no instance runs).
	Incomplete []int64 `json:"incomplete,omitempty"`
	// PartialSavepoints are savepoint directories without metadata.
	PartialSavepoints []string `json:"partial_savepoints,omitempty"`
	// Restore names what a start without --from restores ("" for a fresh
	// start); RestoreError says why a start would refuse, and
	// FallbackRestore what --fallback would restore then.
	Restore         string `json:"restore"`
	RestoreError    string `json:"restore_error,omitempty"`
	FallbackRestore string `json:"fallback_restore,omitempty"`
	// Lease is the job lease's state and Fences its generations' fences.
	Lease  checkpoint.LeaseStatus `json:"lease"`
	Fences checkpoint.Fences      `json:"fences,omitempty"`
}

// List reads every checkpoint's and savepoint's metadata and the job
// lease, and says which checkpoint a start would restore.
func List(ctx context.Context, st storage.Store) (*Listing, error) {
	cl, err := checkpoint.List(ctx, st)
	if err != nil {
		return nil, err
	}
	out := &Listing{Incomplete: cl.Incomplete, PartialSavepoints: cl.PartialSavepoints}
	if out.Lease, err = checkpoint.ReadLease(ctx, st); err != nil {
		return nil, err
	}
	if out.Fences, err = checkpoint.LoadFences(ctx, st); err != nil {
		return nil, err
	}
	var prev *checkpoint.Metadata
	for _, id := range cl.Complete {
		e := entry(ctx, st, strconv.FormatInt(id, 10), out.Fences)
		if e.Metadata != nil {
			e.Incremental = incremental(e.Metadata, prev)
			prev = e.Metadata
		}
		out.Checkpoints = append(out.Checkpoints, e)
	}
	for _, name := range cl.Savepoints {
		e := entry(ctx, st, "savepoints/"+name, out.Fences)
		e.Incremental = e.Size
		out.Savepoints = append(out.Savepoints, e)
	}
	out.Restore, out.RestoreError, out.FallbackRestore = restoreChoice(ctx, st, out.Fences)
	for i := range out.Checkpoints {
		out.Checkpoints[i].Restore = out.Checkpoints[i].Name == out.Restore
	}
	return out, nil
}

// entry reads the metadata of the checkpoint or savepoint name.
func entry(ctx context.Context, st storage.Store, name string, fences checkpoint.Fences) Entry {
	e := Entry{Name: name}
	if sp, ok := strings.CutPrefix(name, "savepoints/"); ok {
		e.Savepoint = sp
	} else {
		e.CheckpointID, _ = strconv.ParseInt(name, 10, 64)
	}
	m, err := checkpoint.ReadMetadata(ctx, st, name)
	if err != nil {
		e.Problem = "metadata cannot be read: " + err.Error()
		return e
	}
	e.Metadata = m
	e.CheckpointID, e.CompletedAt, e.Size, e.Generation, e.Origin = m.CheckpointID, m.CompletedAt, m.StateSize(), m.Generation, m.Origin
	e.Valid = true
	if m.Savepoint == "" {
		if gen, newest, out := fences.RuledOutBy(m); out {
			e.Valid = false
			e.Problem = fmt.Sprintf("completed by an instance that had lost the job (a zombie): written by lease generation %d after generation %d started at checkpoint %d; never restored", m.Generation, gen, newest)
		}
	}
	return e
}

// incremental is the size of m's files that prev does not reference.
func incremental(m, prev *checkpoint.Metadata) int64 {
	had := map[string]bool{}
	if prev != nil {
		for _, k := range fileKeys(prev) {
			had[k] = true
		}
	}
	var n int64
	for _, t := range m.Tasks {
		for _, f := range t.Files {
			if !had[f.Key] {
				n += f.Size
			}
		}
		if t.InFlight != nil && !had[t.InFlight.Key] {
			n += t.InFlight.Size
		}
	}
	return n
}

func fileKeys(m *checkpoint.Metadata) []string {
	var keys []string
	for _, t := range m.Tasks {
		for _, f := range t.Files {
			keys = append(keys, f.Key)
		}
		if t.InFlight != nil {
			keys = append(keys, t.InFlight.Key)
		}
	}
	return keys
}

// restoreChoice is what checkpoint.PlanRestore, which a start runs, would
// restore without --from: the checkpoint's name, or why a start would
// refuse and what --fallback would restore instead.
func restoreChoice(ctx context.Context, st storage.Store, fences checkpoint.Fences) (name, refusal, fallback string) {
	plan, err := checkpoint.PlanRestore(ctx, st, checkpoint.RestoreOptions{Fences: fences, Log: zap.NewNop()})
	if err == nil {
		if plan.Target != nil {
			name = strconv.FormatInt(plan.Target.CheckpointID, 10)
		}
		return name, "", ""
	}
	refusal = err.Error()
	plan, ferr := checkpoint.PlanRestore(ctx, st, checkpoint.RestoreOptions{Fences: fences, Fallback: true, Log: zap.NewNop()})
	if ferr == nil && plan.Target != nil {
		fallback = strconv.FormatInt(plan.Target.CheckpointID, 10)
	}
	return "", refusal, fallback
}

// ErrNoCheckpoint: the storage holds no checkpoint a restore would choose.
var ErrNoCheckpoint = errors.New("inspect: no checkpoint to restore")

// Resolve reads the metadata of the checkpoint or savepoint name
// designates ("12", "chk-0000000012", "savepoints/NAME" or "NAME"); ""
// designates the one a start would restore.
func Resolve(ctx context.Context, st storage.Store, name string) (*checkpoint.Metadata, error) {
	if name != "" {
		m, err := checkpoint.ReadMetadata(ctx, st, name)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("inspect: no checkpoint or savepoint %q (processor checkpoints list shows what there is): %w", name, err)
		}
		return m, err
	}
	fences, err := checkpoint.LoadFences(ctx, st)
	if err != nil {
		return nil, err
	}
	plan, err := checkpoint.PlanRestore(ctx, st, checkpoint.RestoreOptions{Fences: fences, Log: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	if plan.Target == nil {
		return nil, fmt.Errorf("%w: the storage holds no complete checkpoint", ErrNoCheckpoint)
	}
	return plan.Target, nil
}
