package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
)

// What a job's checkpoint storage holds, for tools that read it without a
// running job (package checkpoint/inspect).

// ReadMetadata reads and verifies the metadata of the checkpoint or
// savepoint name designates, as --from takes it: a checkpoint id ("12" or
// "chk-0000000012") or a savepoint ("savepoints/NAME" or "NAME"). A missing
// one is an error wrapping storage.ErrNotFound; see DecodeMetadata for the
// others.
func ReadMetadata(ctx context.Context, st storage.Store, name string) (*Metadata, error) {
	return readMetadata(ctx, st, fromKey(name))
}

// Listing is what a job's checkpoint storage holds.
type Listing struct {
	// Complete are the ids of checkpoints with metadata, ascending.
	Complete []int64
	// Incomplete are the ids of checkpoint directories without metadata,
	// ascending: in flight, failed, or left by a crash.
	Incomplete []int64
	// Savepoints are the names of savepoints with metadata, sorted.
	Savepoints []string
	// PartialSavepoints are savepoint directories without metadata: being
	// written, or left by a failed copy.
	PartialSavepoints []string
}

// List lists the checkpoints and savepoints st holds.
func List(ctx context.Context, st storage.Store) (*Listing, error) {
	l, err := list(ctx, st)
	if err != nil {
		return nil, err
	}
	out := &Listing{Complete: l.complete}
	done := map[int64]bool{}
	for _, id := range l.complete {
		done[id] = true
	}
	for id := range l.all {
		if !done[id] {
			out.Incomplete = append(out.Incomplete, id)
		}
	}
	slices.Sort(out.Incomplete)
	infos, err := st.List(ctx, savepointsDir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list savepoints: %w", err)
	}
	seen := map[string]bool{}
	complete := map[string]bool{}
	var names []string
	for _, in := range infos {
		name, rest, ok := strings.Cut(strings.TrimPrefix(in.Key, savepointsDir), "/")
		if !ok {
			continue
		}
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
		if rest == metadataName {
			complete[name] = true
		}
	}
	for _, n := range names { // sorted: List sorts keys
		if complete[n] {
			out.Savepoints = append(out.Savepoints, n)
		} else {
			out.PartialSavepoints = append(out.PartialSavepoints, n)
		}
	}
	return out, nil
}

// LeaseStatus is the state of a job's lease.
type LeaseStatus struct {
	// Generation is the newest generation claimed; 0: never claimed.
	Generation int64
	Holder     Holder
	// Released: the holder gave the job up on a clean stop.
	Released bool
	// Heartbeats counts the holder's renewals (-1: none yet), and
	// HeartbeatAt is when the last one was written, by the holder's clock.
	Heartbeats  int64
	HeartbeatAt time.Time
}

// ReadLease reads the job lease's state from st (rooted at the job).
func ReadLease(ctx context.Context, st storage.Store) (LeaseStatus, error) {
	s, err := readLease(ctx, st)
	if err != nil {
		return LeaseStatus{}, err
	}
	out := LeaseStatus{Generation: s.gen, Holder: s.holder, Released: s.released, Heartbeats: -1}
	if s.gen == 0 {
		return out, nil
	}
	var hb heartbeat
	err = readJSON(ctx, st, heartbeatKey(s.gen), &hb)
	switch {
	case err == nil:
		out.Heartbeats, out.HeartbeatAt = hb.Count, hb.At
	case !errors.Is(err, storage.ErrNotFound):
		return out, err
	}
	return out, nil
}

// DecodeInFlight parses a task's in-flight file (TaskState.InFlight): the
// records and dead letters an unaligned checkpoint replays.
func DecodeInFlight(data []byte) ([]operators.InFlight, error) { return decodeInFlight(data) }
