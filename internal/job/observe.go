package job

import (
	"cmp"
	"slices"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
)

// What the dashboard and the HTTP API show of a job beyond its Status:
// the latest restore, the recent failures and the sources' progress.

// Restore describes the newest restore of the job: the checkpoint (or
// savepoint) it restored and how long it took from the start of the
// attempt until the job processed records.
type Restore struct {
	// Attempt is the attempt that restored; StartedAt when it began.
	Attempt   int       `json:"attempt"`
	StartedAt time.Time `json:"started_at"`
	// Checkpoint is the checkpoint restored (the copy a named restore
	// writes, see Origin); 0 for a fresh start without state.
	Checkpoint int64  `json:"checkpoint"`
	Savepoint  string `json:"savepoint,omitempty"`
	// Origin names the restore that started the checkpoint's lineage
	// (a --from checkpoint or savepoint, a fallback), if any.
	Origin string `json:"origin,omitempty"`
	// CompletedAt is when the restored checkpoint completed.
	CompletedAt time.Time `json:"checkpoint_completed_at,omitzero"`
	// StateSize is the size of the restored state, in bytes.
	StateSize int64 `json:"state_size"`
	// Rescaled lists the stages whose task count changed since the
	// checkpoint ("keyed 2->4"): their state was redistributed by key
	// group (docs/checkpoints.md "Rescaling"). Empty otherwise.
	Rescaled string `json:"rescaled,omitempty"`
	// Done says the job processes records again; Duration is the time
	// from StartedAt until then (until now while not done).
	Done     bool          `json:"done"`
	Duration time.Duration `json:"duration_ns"`
}

// PartitionProgress is a source partition's position at the newest
// completed checkpoint, and how fast it advanced.
type PartitionProgress struct {
	// Source is the source's name ("" for a single-chain source).
	Source    string `json:"source"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Offset is the next offset to read at the newest completed
	// checkpoint (Checkpoint, completed at At).
	Offset     int64     `json:"offset"`
	Checkpoint int64     `json:"checkpoint"`
	At         time.Time `json:"at"`
	// Rate is how many offsets per second the partition advanced between
	// the two newest completed checkpoints; nil before the second one.
	Rate *float64 `json:"rate,omitempty"`
}

// maxFailures is how many failures RecentFailures keeps.
const maxFailures = 20

// observed is what the job keeps for the dashboard; guarded by Job.mu.
type observed struct {
	restore  *Restore
	failures []Failure // oldest first
	// prev and last are the positions of the two newest completed
	// checkpoints.
	prev, last *positionsAt
}

type positionsAt struct {
	id  int64
	at  time.Time
	pos map[string][]positionOf
}

type positionOf struct {
	topic  string
	part   int32
	offset int64
}

// observeRestore records the restore the attempt is making (m nil: a
// fresh start). Called with j.mu held.
func (j *Job) observeRestore(m *checkpoint.Metadata) {
	r := &Restore{Attempt: j.run.attempt, StartedAt: j.run.since}
	if m != nil {
		r.Checkpoint, r.Savepoint, r.Origin, r.CompletedAt, r.StateSize = m.CheckpointID, m.Savepoint, m.Origin, m.CompletedAt, m.StateSize()
	}
	j.obs.restore = r
}

// observeReady marks the attempt's restore done. Called with j.mu held.
func (j *Job) observeReady(now time.Time) {
	if r := j.obs.restore; r != nil && r.Attempt == j.run.attempt && !r.Done {
		r.Done, r.Duration = true, now.Sub(r.StartedAt)
	}
}

// observeFailure records a failure. Called with j.mu held.
func (j *Job) observeFailure(f Failure) {
	j.obs.failures = append(j.obs.failures, f)
	if n := len(j.obs.failures); n > maxFailures {
		j.obs.failures = slices.Clone(j.obs.failures[n-maxFailures:])
	}
}

// observeCheckpoint records the positions of a completed checkpoint.
// Called with j.mu held.
func (j *Job) observeCheckpoint(m *checkpoint.Metadata) {
	p := &positionsAt{id: m.CheckpointID, at: m.CompletedAt, pos: map[string][]positionOf{}}
	for src, ps := range m.Positions() {
		for _, q := range ps {
			p.pos[src] = append(p.pos[src], positionOf{q.Topic, q.Partition, q.Offset})
		}
	}
	j.obs.prev, j.obs.last = j.obs.last, p
}

// LastRestore returns the newest restore, or nil before the first.
func (j *Job) LastRestore() *Restore {
	j.mu.Lock()
	defer j.mu.Unlock()
	r := j.obs.restore
	if r == nil {
		return nil
	}
	out := *r
	if !out.Done {
		out.Duration = j.spec.Now().Sub(out.StartedAt)
	}
	return &out
}

// RecentFailures returns the newest failed attempts (up to 20), newest
// first.
func (j *Job) RecentFailures() []Failure {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := slices.Clone(j.obs.failures)
	slices.Reverse(out)
	return out
}

// Progress returns every source partition's position at the newest
// completed checkpoint (of any attempt), sorted by source, topic and
// partition; empty before the first.
func (j *Job) Progress() []PartitionProgress {
	j.mu.Lock()
	last, prev := j.obs.last, j.obs.prev
	j.mu.Unlock()
	if last == nil {
		return []PartitionProgress{}
	}
	before := map[string]map[[2]any]int64{}
	if prev != nil {
		for src, ps := range prev.pos {
			before[src] = map[[2]any]int64{}
			for _, q := range ps {
				before[src][[2]any{q.topic, q.part}] = q.offset
			}
		}
	}
	out := []PartitionProgress{}
	for src, ps := range last.pos {
		for _, q := range ps {
			pp := PartitionProgress{Source: src, Topic: q.topic, Partition: q.part, Offset: q.offset, Checkpoint: last.id, At: last.at}
			if prev != nil {
				if off, ok := before[src][[2]any{q.topic, q.part}]; ok {
					if secs := last.at.Sub(prev.at).Seconds(); secs > 0 {
						rate := max(0, float64(q.offset-off)/secs)
						pp.Rate = &rate
					}
				}
			}
			out = append(out, pp)
		}
	}
	slices.SortFunc(out, func(a, b PartitionProgress) int {
		switch {
		case a.Source != b.Source:
			return cmp.Compare(a.Source, b.Source)
		case a.Topic != b.Topic:
			return cmp.Compare(a.Topic, b.Topic)
		}
		return int(a.Partition - b.Partition)
	})
	return out
}
