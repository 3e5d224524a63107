package integration

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// The schedule test's generator: a seeded PCG turns a seed and a length into
// a list of steps, each valid in the state that the steps before it leave
// (a model of which instances of each job exist). The same seed and length
// always give the same list; the list is printed before it runs.

// Jobs of the schedule: a passthrough of sequence-numbered records and a
// keyed count, run side by side on their own topics.
const (
	jobPass  = 0
	jobCount = 1
	jobAll   = -1 // a step on the shared services
)

var jobNames = [2]string{"pass", "count"}

// stepKind is what a step does.
type stepKind string

const (
	// kindWait lets everything run for Ms.
	kindWait stepKind = "wait"
	// kindKill waits Ms, then SIGKILLs the job's holder; the supervisor
	// restarts it at the next step.
	kindKill stepKind = "kill"
	// kindRestart SIGKILLs the job's active instance and starts it again
	// with Run's settings, Crash armed (TIDEMARK_CRASHPOINT), and waits for
	// the crash point to fire (bounded).
	kindRestart stepKind = "restart"
	// kindSavepoint asks the holder for savepoint Name in the background,
	// and waits up to Ms for the answer: later steps may overlap it.
	kindSavepoint stepKind = "savepoint"
	// kindStopSavepoint stops the job with savepoint Name (savepoint
	// --stop), then starts it with --from Name.
	kindStopSavepoint stepKind = "stop-savepoint"
	// kindFromNewest SIGKILLs the active instance and starts it with --from
	// the newest complete checkpoint.
	kindFromNewest stepKind = "from-newest"
	// kindSecond starts a second instance (another state dir) while the
	// active one holds the job: it must wait.
	kindSecond stepKind = "second"
	// kindHandover ends the wait of the second instance as How says.
	kindHandover stepKind = "handover"
	// kindWake SIGCONTs the paused former holder: it must exit non-zero
	// naming the newer holder, having committed nothing.
	kindWake stepKind = "wake"
	// kindSameDir runs a process on the active instance's state dir for
	// Ms, then SIGKILLs it.
	kindSameDir stepKind = "same-dir"
	// kindS3Outage kills the S3 server for Ms, then starts it again.
	kindS3Outage stepKind = "s3-outage"
	// kindKafkaRestart restarts the broker (SIGTERM, or SIGKILL if Crash is
	// "kill").
	kindKafkaRestart stepKind = "kafka-restart"
	// kindLongDowntime crashes the job at checkpoint.after-metadata:N (N in
	// Crash), keeps it down until the broker aborted its pending
	// transactions, and starts it again: it must fall back to an older
	// checkpoint.
	kindLongDowntime stepKind = "long-downtime"
)

// Handover variants: what ends the second instance's wait.
const (
	handStopActive  = "stop-active"  // SIGTERM the holder: it releases the lease, exit 0
	handKillActive  = "kill-active"  // SIGKILL the holder: taken over after the lease timeout
	handPauseActive = "pause-active" // SIGSTOP the holder: a zombie, taken over after the lease timeout
	handStopSecond  = "stop-second"  // SIGTERM the waiting instance: exit 0
)

// runSettings are the settings a start writes into the instance's
// configuration; they vary per start.
type runSettings struct {
	MaxConcurrent int
	Interval      time.Duration
	Tolerable     int
	Retained      int
}

func (r runSettings) String() string {
	return fmt.Sprintf("max_concurrent=%d interval=%v tolerable_failures=%d retained=%d", r.MaxConcurrent, r.Interval, r.Tolerable, r.Retained)
}

// step is one step of a schedule.
type step struct {
	N     int
	Kind  stepKind
	Job   int // jobPass, jobCount or jobAll
	Ms    int
	Crash string
	How   string
	Name  string
	Run   *runSettings // kindRestart: new settings (nil keeps them)
}

func (s step) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s", s.N, s.Kind)
	if s.Job >= 0 {
		fmt.Fprintf(&b, " job=%s", jobNames[s.Job])
	}
	if s.Ms > 0 {
		fmt.Fprintf(&b, " %dms", s.Ms)
	}
	if s.Crash != "" {
		fmt.Fprintf(&b, " crash=%s", s.Crash)
	}
	if s.How != "" {
		fmt.Fprintf(&b, " %s", s.How)
	}
	if s.Name != "" {
		fmt.Fprintf(&b, " name=%s", s.Name)
	}
	if s.Run != nil {
		fmt.Fprintf(&b, " %s", s.Run)
	}
	return b.String()
}

// schedule is a generated schedule: the first settings of each job and the
// steps.
type schedule struct {
	Seed  uint64
	First [2]runSettings
	Steps []step
}

func (s *schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schedule seed %d, %d steps\n", s.Seed, len(s.Steps))
	for j, r := range s.First {
		fmt.Fprintf(&b, "  start job=%s %s\n", jobNames[j], r)
	}
	for _, st := range s.Steps {
		fmt.Fprintf(&b, "  %s\n", st)
	}
	return b.String()
}

// Crash points by where they fire: at every start (restore), only when
// recovery has something to commit, or while running.
var (
	restoreCrashPoints = []string{"lease.after-claim", "restore.after-choose", "settle.after-resume", "settle.after-abort"}
	runCrashPoints     = []string{"checkpoint.after-metadata", "sink.after-commit", "sink.after-precommit", "gc.after-delete"}
	// recoveryCrashPoints follow a crash after a checkpoint's metadata,
	// when recovery has transactions to commit.
	recoveryCrashPoints = []string{"settle.after-commit-one", "settle.after-resume", "settle.after-abort", "restore.after-choose", "lease.after-claim"}
)

// genModel is what the generator knows of each job: whether a second
// instance waits for it, and whether a paused former holder exists.
type genModel struct {
	waiter, zombie [2]bool
}

// allowed reports whether kind k may run on job j in state m.
func (m *genModel) allowed(k stepKind, j int) bool {
	switch k {
	case kindWait, kindS3Outage, kindKafkaRestart, kindSavepoint:
		return true
	case kindHandover:
		return m.waiter[j]
	case kindWake:
		return m.zombie[j]
	case kindKill, kindRestart:
		return !m.waiter[j]
	default: // second, stop-savepoint, from-newest, same-dir, long-downtime
		return !m.waiter[j] && !m.zombie[j]
	}
}

func (m *genModel) apply(s step) {
	switch s.Kind {
	case kindSecond:
		m.waiter[s.Job] = true
	case kindHandover:
		m.waiter[s.Job] = false
		m.zombie[s.Job] = s.How == handPauseActive
	case kindWake:
		m.zombie[s.Job] = false
	}
}

// weights of the step kinds drawn at random.
var weights = []struct {
	k stepKind
	w int
}{
	{kindWait, 16}, {kindKill, 12}, {kindRestart, 18}, {kindSavepoint, 10},
	{kindStopSavepoint, 5}, {kindFromNewest, 5}, {kindSecond, 5}, {kindHandover, 40},
	{kindWake, 15}, {kindSameDir, 3}, {kindS3Outage, 3}, {kindKafkaRestart, 1}, {kindLongDowntime, 2},
}

// mustKinds appear at least once in a schedule of at least minCovered
// steps, at random places.
var mustKinds = []stepKind{kindRestart, kindSavepoint, kindStopSavepoint, kindFromNewest, kindSecond, kindSameDir,
	kindS3Outage, kindKafkaRestart, kindLongDowntime}

const minCovered = 20

// generate makes the schedule of seed with n steps.
func generate(seed uint64, n int) *schedule {
	rng := rand.New(rand.NewPCG(seed, 0x7469_6465_6d61_726b))
	s := &schedule{Seed: seed}
	for j := range s.First {
		s.First[j] = genSettings(rng)
	}
	// Places for the kinds every long enough schedule covers, early
	// enough for a second instance's handover to follow.
	due := map[stepKind]int{}
	if n >= minCovered {
		for _, k := range mustKinds {
			due[k] = rng.IntN(n - 4)
		}
	}
	var m genModel
	var (
		follow [2]*step    // a restart to come next on the job
		next   [2]stepKind // the handover or wake to come on the job
		nextAt [2]int      // ... at this step at the latest
	)
	pauseDone := false
	for i := range n {
		st := step{N: i + 1}
		forced := false
		// A handover 1-3 steps after its second instance, a wake 1-5
		// steps after its pause.
		for j := range next {
			if next[j] != "" && nextAt[j] <= i && m.allowed(next[j], j) {
				st.Kind, st.Job, forced = next[j], j, true
				next[j] = ""
				break
			}
		}
		// Then an overdue kind whose preconditions hold.
		if !forced {
			var overdue []stepKind
			for k, at := range due {
				if at <= i {
					overdue = append(overdue, k)
				}
			}
			slices.Sort(overdue)
			for _, k := range overdue {
				j := rng.IntN(2)
				if !m.allowed(k, j) {
					j = 1 - j
				}
				if m.allowed(k, j) {
					st.Kind, st.Job, forced = k, j, true
					delete(due, k)
					break
				}
			}
		}
		// Then a crash during the recovery a crash left.
		if !forced {
			for j := range follow {
				if follow[j] != nil && m.allowed(kindRestart, j) {
					st.Kind, st.Job, st.Crash = kindRestart, j, follow[j].Crash
					follow[j], forced = nil, true
					break
				}
			}
		}
		if !forced {
			st.Kind, st.Job = pick(rng, &m)
		}
		if st.Crash == "" {
			fill(rng, &st, &m, !pauseDone && n >= minCovered)
		}
		// A crash between a checkpoint's metadata and its commit leaves
		// recovery work: crash in the middle of that recovery next.
		if strings.HasPrefix(st.Crash, "checkpoint.after-metadata") && st.Kind == kindRestart && rng.IntN(2) == 0 {
			follow[st.Job] = &step{Crash: recoveryCrashPoints[rng.IntN(len(recoveryCrashPoints))]}
		}
		switch {
		case st.Kind == kindSecond:
			next[st.Job], nextAt[st.Job] = kindHandover, i+1+rng.IntN(3)
		case st.Kind == kindHandover:
			next[st.Job] = ""
			if st.How == handPauseActive {
				pauseDone = true
				next[st.Job], nextAt[st.Job] = kindWake, i+1+rng.IntN(5)
			}
		case st.Kind == kindWake:
			next[st.Job] = ""
		}
		if st.Kind == kindKafkaRestart || st.Kind == kindS3Outage || st.Kind == kindWait {
			st.Job = jobAll
		}
		m.apply(st)
		s.Steps = append(s.Steps, st)
	}
	return s
}

// pick draws a kind and a job allowed in state m.
func pick(rng *rand.Rand, m *genModel) (stepKind, int) {
	for {
		j := rng.IntN(2)
		total := 0
		for _, w := range weights {
			if m.allowed(w.k, j) {
				total += w.w
			}
		}
		r := rng.IntN(total)
		for _, w := range weights {
			if !m.allowed(w.k, j) {
				continue
			}
			if r < w.w {
				return w.k, j
			}
			r -= w.w
		}
	}
}

// fill draws the step's parameters.
func fill(rng *rand.Rand, st *step, m *genModel, wantPause bool) {
	switch st.Kind {
	case kindWait:
		st.Ms = 200 + rng.IntN(2800)
	case kindKill:
		st.Ms = rng.IntN(2500)
	case kindRestart:
		switch r := rng.IntN(10); {
		case r < 3:
			st.Crash = restoreCrashPoints[rng.IntN(len(restoreCrashPoints))]
		case r < 4:
			st.Crash = "settle.after-commit-one"
		case r < 5:
			st.Crash = "savepoint.before-metadata"
			st.Name = fmt.Sprintf("crash-%d", st.N)
		case r < 9:
			p := runCrashPoints[rng.IntN(len(runCrashPoints))]
			st.Crash = fmt.Sprintf("%s:%d", p, 1+rng.IntN(8))
		}
		if rng.IntN(3) == 0 || st.Crash == "" {
			r := genSettings(rng)
			st.Run = &r
		}
	case kindSavepoint:
		st.Name = fmt.Sprintf("sp-%d", st.N)
		st.Ms = rng.IntN(4000) // how long the step waits for the answer
	case kindStopSavepoint:
		st.Name = fmt.Sprintf("upgrade-%d", st.N)
	case kindHandover:
		hows := []string{handPauseActive, handPauseActive, handKillActive, handKillActive, handStopActive, handStopActive, handStopSecond}
		st.How = hows[rng.IntN(len(hows))]
		if wantPause {
			st.How = handPauseActive
		}
	case kindSameDir:
		st.Ms = 1000 + rng.IntN(3000)
	case kindS3Outage:
		st.Ms = 2000 + rng.IntN(8000)
	case kindKafkaRestart:
		if rng.IntN(3) == 0 {
			st.Crash = "kill"
		}
	case kindLongDowntime:
		// Not the first checkpoint after the restore: it may hold no
		// transaction yet.
		st.Crash = fmt.Sprintf("checkpoint.after-metadata:%d", 3+rng.IntN(4))
	}
}

func genSettings(rng *rand.Rand) runSettings {
	mc := 1
	if rng.IntN(2) == 0 {
		mc = 3
	}
	return runSettings{
		MaxConcurrent: mc,
		Interval:      time.Duration(100+rng.IntN(401)) * time.Millisecond,
		Tolerable:     rng.IntN(2),
		Retained:      2 + rng.IntN(2),
	}
}
