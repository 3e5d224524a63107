package checkpoint

import (
	"sync"
	"time"
)

// Checkpoint statuses in Stats.
const (
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
)

// Stats describes one checkpoint attempt, for the HTTP API and metrics.
// Durations of task parts are the maximum over tasks.
type Stats struct {
	ID          int64     `json:"id"`
	Status      string    `json:"status"`
	Savepoint   string    `json:"savepoint,omitempty"`
	TriggeredAt time.Time `json:"triggered_at"`
	// Duration is from trigger to completion or failure.
	Duration time.Duration `json:"duration_ns"`
	// SyncDuration is the longest pause of a task for its snapshot.
	SyncDuration time.Duration `json:"sync_duration_ns"`
	// AsyncDuration is the longest upload of a task's snapshot.
	AsyncDuration time.Duration `json:"async_duration_ns"`
	// StartDelay is the longest time from the trigger until a task got
	// the checkpoint's first barrier: how long barriers queued behind
	// records in the channels (and sources took to inject them).
	StartDelay time.Duration `json:"start_delay_ns"`
	// AlignmentDuration is the longest time a task took from its first
	// barrier to its last.
	AlignmentDuration time.Duration `json:"alignment_duration_ns"`
	Unaligned         bool          `json:"unaligned"`
	// BytesUploaded is what this checkpoint sent to storage; StateSize is
	// the full size of the state it references.
	BytesUploaded int64 `json:"bytes_uploaded"`
	StateSize     int64 `json:"state_size"`
	FilesUploaded int   `json:"files_uploaded"`
	FilesReused   int   `json:"files_reused"`
	// FilesMissing counts reused shared files found missing from storage
	// and uploaded again (counted in FilesUploaded too).
	FilesMissing  int    `json:"files_missing"`
	FailureReason string `json:"failure_reason,omitempty"`
}

// history keeps the newest Stats.
type history struct {
	mu    sync.Mutex
	items []Stats
	limit int
	// counts by status over the process's life.
	completed, failed int64
}

func (h *history) put(s Stats) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.items {
		if h.items[i].ID == s.ID {
			h.items[i] = s
			h.count(s)
			return
		}
	}
	h.items = append(h.items, s)
	if len(h.items) > h.limit {
		h.items = h.items[len(h.items)-h.limit:]
	}
	h.count(s)
}

func (h *history) count(s Stats) {
	switch s.Status {
	case StatusCompleted:
		h.completed++
	case StatusFailed:
		h.failed++
	}
}

func (h *history) list() []Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Stats(nil), h.items...)
}
