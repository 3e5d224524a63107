package crashpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// EnvVar arms a crash point: "NAME" crashes at its first hit, "NAME:N" at
// its N-th. Several points may be given, separated by commas; the first to
// reach its count crashes the process.
const EnvVar = "TIDEMARK_CRASHPOINT"

// Names of the crash points, for tests and docs. A point's name says where
// it sits: the process dies just after the step named.
const (
	// AfterClaim: the instance claimed the job's lease, before restoring.
	AfterClaim = "lease.after-claim"
	// AfterRestorePoint: the restore point is chosen, before settling.
	AfterRestorePoint = "restore.after-choose"
	// SettleAfterCommitOne: recovery committed one pending transaction.
	SettleAfterCommitOne = "settle.after-commit-one"
	// SettleAfterResume: recovery committed every pending transaction to
	// commit, before aborting lingering ones.
	SettleAfterResume = "settle.after-resume"
	// SettleAfterAbort: recovery aborted lingering transactions.
	SettleAfterAbort = "settle.after-abort"
	// AfterMetadata: a checkpoint's _metadata is written, before any task
	// is told it is complete (transactions not committed yet).
	AfterMetadata = "checkpoint.after-metadata"
	// SinkAfterCommit: a sink task committed one transaction on a
	// checkpoint's completion.
	SinkAfterCommit = "sink.after-commit"
	// SinkAfterPreCommit: a sink task pre-committed its transaction on a
	// barrier.
	SinkAfterPreCommit = "sink.after-precommit"
	// GCAfterDelete: garbage collection deleted one object.
	GCAfterDelete = "gc.after-delete"
	// SavepointBeforeMetadata: a savepoint's files are copied, before its
	// _metadata is written.
	SavepointBeforeMetadata = "savepoint.before-metadata"
)

// All lists every crash point.
var All = []string{
	AfterClaim, AfterRestorePoint, SettleAfterCommitOne, SettleAfterResume, SettleAfterAbort,
	AfterMetadata, SinkAfterCommit, SinkAfterPreCommit, GCAfterDelete, SavepointBeforeMetadata,
}

var (
	armed  atomic.Bool
	mu     sync.Mutex
	counts map[string]int // hits still to go before crashing, by point
)

func init() {
	if err := Arm(os.Getenv(EnvVar)); err != nil {
		fmt.Fprintf(os.Stderr, "processor: %s: %v\n", EnvVar, err)
		os.Exit(2)
	}
}

// Arm sets the armed points from a spec in EnvVar's syntax; "" disarms
// every point. Tests of this package use it; the processor is armed by the
// environment.
func Arm(spec string) error {
	mu.Lock()
	defer mu.Unlock()
	counts = map[string]int{}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, n, hasN := strings.Cut(part, ":")
		count := 1
		if hasN {
			var err error
			if count, err = strconv.Atoi(n); err != nil || count < 1 {
				return fmt.Errorf("crash point %q: count must be a positive number", part)
			}
		}
		known := false
		for _, p := range All {
			known = known || p == name
		}
		if !known {
			return fmt.Errorf("unknown crash point %q (known: %s)", name, strings.Join(All, ", "))
		}
		counts[name] = count
	}
	armed.Store(len(counts) > 0)
	return nil
}

// crash is what a point does when it fires; tests replace it.
var crash = func(name string) {
	fmt.Fprintf(os.Stderr, "{\"level\":\"error\",\"msg\":\"crash point reached: killing the process\",\"crash_point\":%q}\n", name)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL cannot be caught; never return
}

// Hit marks that the process passed point name. If the point is armed and
// this is the hit it waits for, the process dies at once with SIGKILL: no
// deferred function runs, nothing is flushed.
func Hit(name string) {
	if !armed.Load() {
		return
	}
	mu.Lock()
	n, ok := counts[name]
	if ok {
		n--
		counts[name] = n
	}
	mu.Unlock()
	if ok && n == 0 {
		crash(name)
	}
}
