package job

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/internal/restart"
)

// States of a job, in Status.State.
const (
	StateStarting   = "starting"   // Run not called yet
	StateRestoring  = "restoring"  // finding, downloading and settling a checkpoint
	StateRunning    = "running"    // processing records
	StateRestarting = "restarting" // waiting before the next attempt
	StateFailed     = "failed"     // stopped on a permanent error
	StateStopped    = "stopped"    // stopped cleanly
)

// Status is what the job is doing, for /readyz and the HTTP API. Counters
// run over the life of the process, across in-process restarts.
type Status struct {
	// Job is the job's name.
	Job   string `json:"job"`
	State string `json:"state"`
	// Ready is what /readyz answers: the job processes records and is not
	// in a series of failures it has not yet shown to be over.
	Ready bool `json:"ready"`
	// Reason says why it is not ready.
	Reason string `json:"reason,omitempty"`
	// Since is when the job entered State.
	Since time.Time `json:"since"`
	// Attempt numbers the attempts (restore and run) from 1.
	Attempt int `json:"attempt"`
	// Restarts counts in-process restarts.
	Restarts int `json:"restarts"`
	// FailuresInARow is the length of the current series of failures
	// (see restart.reset_after); 0 before any failure.
	FailuresInARow int `json:"failures_in_a_row"`
	// Progress says the current attempt completed a checkpoint that
	// advanced the input positions beyond the restored checkpoint's (or
	// that holds output).
	Progress bool `json:"progress"`
	// NextAttemptAt is when the next attempt starts, while restarting.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	// LastFailure is the newest failure, if any.
	LastFailure *Failure `json:"last_failure,omitempty"`
	// CheckpointsCompleted and CheckpointsFailed count over every attempt.
	CheckpointsCompleted int64 `json:"checkpoints_completed"`
	CheckpointsFailed    int64 `json:"checkpoints_failed"`
	// LastRestore is the newest restore and RecentFailures the newest
	// failures, newest first (observe.go).
	LastRestore    *Restore  `json:"last_restore,omitempty"`
	RecentFailures []Failure `json:"recent_failures,omitempty"`
}

// Failure is a failed attempt.
type Failure struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
	// Class is "transient" (restarted) or "permanent" (stopped).
	Class string `json:"class"`
}

// partition identifies a source partition.
type partition struct {
	topic string
	part  int32
}

// runState is what Run keeps across attempts; guarded by Job.mu.
type runState struct {
	state    string
	since    time.Time
	attempt  int
	restarts int
	inARow   int
	nextAt   time.Time
	last     *Failure
	readyAt  time.Time // when the current attempt started processing
	progress bool
	// stuck counts the attempts in a row that processed records but
	// failed without progress and before ResetAfter: a restart loop. An
	// attempt that failed before processing changes nothing.
	stuck int
	// base are the positions progress is measured from: the restored
	// checkpoint's (none on a fresh start).
	base map[partition]int64
	// Counters of attempts that ended.
	completed, failed, deadLetters int64
	stats                          []checkpoint.Stats
}

// maxStats is how many checkpoints' statistics Stats keeps.
const maxStats = 100

func (j *Job) setState(state string) {
	j.run.state, j.run.since = state, j.spec.Now()
}

// beginAttempt is called before each attempt.
func (j *Job) beginAttempt() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.run.attempt++
	j.run.progress, j.run.base, j.run.nextAt = false, nil, time.Time{}
	j.setState(StateRestoring)
}

// noteRestored records the checkpoint the attempt restored (nil: a fresh
// start): progress is measured from its positions.
func (j *Job) noteRestored(m *checkpoint.Metadata) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.observeRestore(m)
	j.run.base = map[partition]int64{}
	if m != nil {
		j.run.base = positions(m)
	}
}

// becameReady is called when an attempt starts processing.
func (j *Job) becameReady() {
	j.mu.Lock()
	j.run.readyAt = j.spec.Now()
	j.observeReady(j.run.readyAt)
	took := j.run.readyAt.Sub(j.run.since) // since the attempt began restoring
	j.setState(StateRunning)
	j.mu.Unlock()
	j.spec.Metrics.restored(took, j.downloaded.Load(), j.restoreSize)
	j.spec.Log.Info("restored: processing records", zap.Duration("took", took),
		zap.Int64("state_bytes", j.restoreSize), zap.Int64("downloaded_bytes", j.downloaded.Load()))
	if j.onReady != nil {
		j.onReady()
	}
}

// checkpointCompleted notes whether m shows progress.
func (j *Job) checkpointCompleted(m *checkpoint.Metadata) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.observeCheckpoint(m)
	if len(m.PendingTransactions) > 0 {
		// A checkpoint lists only the transactions its attempt
		// pre-committed: output was written.
		j.run.progress = true
	}
	// A partition the restored checkpoint lacks started at 0, as far as
	// can be told.
	for p, off := range positions(m) {
		if off > j.run.base[p] {
			j.run.progress = true
		}
	}
}

func positions(m *checkpoint.Metadata) map[partition]int64 {
	out := map[partition]int64{}
	for _, ps := range m.Positions() {
		for _, p := range ps {
			out[partition{p.Topic, p.Partition}] = p.Offset
		}
	}
	return out
}

// endAttempt folds the ended attempt's counters into the job's and says
// how it went, and whether it got as far as restoring.
func (j *Job) endAttempt() (a restart.Attempt, restored bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.coord != nil {
		c, f := j.coord.Counts()
		j.run.completed += c
		j.run.failed += f
		j.run.stats = append(j.run.stats, j.coord.Stats()...)
		if n := len(j.run.stats); n > maxStats {
			j.run.stats = append([]checkpoint.Stats(nil), j.run.stats[n-maxStats:]...)
		}
		j.coord = nil
	}
	if j.graph != nil {
		j.run.deadLetters += j.graph.DeadLetters()
		j.graph = nil
	}
	a.Progress = j.run.progress
	if j.readied {
		a.Ran = j.spec.Now().Sub(j.run.readyAt)
		if a.Progress || a.Ran >= j.spec.Restart.ResetAfter {
			j.run.stuck = 0
		} else {
			j.run.stuck++
		}
	}
	return a, j.readied
}

// failedAttempt records a failure; delay > 0 (or permanent false) says a
// restart follows after delay.
func (j *Job) failedAttempt(err error, class restart.Class, inARow int, delay time.Duration) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.spec.Now()
	j.run.last = &Failure{At: now, Attempt: j.run.attempt, Error: err.Error(), Class: class.String()}
	j.observeFailure(*j.run.last)
	j.run.inARow = inARow
	if class == restart.Permanent {
		j.setState(StateFailed)
		return
	}
	j.run.restarts++
	j.run.nextAt = now.Add(delay)
	j.setState(StateRestarting)
}

func (j *Job) stopped() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.setState(StateStopped)
}

// Status returns what the job is doing.
func (j *Job) Status() Status {
	j.mu.Lock()
	r := j.run
	c, f := r.completed, r.failed
	if j.coord != nil {
		cc, cf := j.coord.Counts()
		c, f = c+cc, f+cf
	}
	running := j.ready
	j.mu.Unlock()
	now := j.spec.Now()
	st := Status{
		Job: j.spec.Name, State: r.state, Since: r.since, Attempt: r.attempt, Restarts: r.restarts, FailuresInARow: r.inARow,
		Progress: r.progress, LastFailure: r.last, CheckpointsCompleted: c, CheckpointsFailed: f,
		LastRestore: j.LastRestore(), RecentFailures: j.RecentFailures(),
	}
	if r.state == StateRestarting {
		next := r.nextAt
		st.NextAttemptAt = &next
	}
	last := ""
	if r.last != nil {
		last = r.last.Error
	}
	switch {
	case r.state == StateRunning && !running:
		// The attempt ended; Run is about to record why.
		st.Reason = "the job attempt just ended"
	case r.state == StateRunning && (r.stuck == 0 || r.progress || now.Sub(r.readyAt) >= j.spec.Restart.ResetAfter):
		st.Ready = true
	case r.state == StateRunning:
		st.Reason = fmt.Sprintf("in a restart loop: %d attempt(s) in a row failed without progress; ready once a checkpoint advances the input (or after %s of running); last failure: %s",
			r.stuck, j.spec.Restart.ResetAfter, last)
	case r.state == StateRestoring && r.last != nil:
		st.Reason = fmt.Sprintf("restoring (attempt %d, after %d failure(s) in a row; last failure: %s)", r.attempt, r.inARow, last)
	case r.state == StateRestoring:
		st.Reason = "restoring from the newest checkpoint"
	case r.state == StateRestarting:
		st.Reason = fmt.Sprintf("restarting in %s (failure %d in a row): %s", r.nextAt.Sub(now).Round(time.Millisecond), r.inARow, last)
	case r.state == StateFailed:
		st.Reason = "stopped on a permanent error: " + last
	default:
		st.Reason = r.state
	}
	return st
}
