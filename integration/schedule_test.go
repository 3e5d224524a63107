package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/integration/testenv"
)

// The randomized schedule test (issue 7): the real processor binary,
// against the real broker and S3 server, driven through a seeded random
// interleaving of checkpoints (max_concurrent 1 and 3, short intervals),
// savepoints, SIGKILLs at random moments and at named crash points,
// --from restores of the newest checkpoint and of stop-with-savepoint
// savepoints (and restarts with the same --from), second instances that
// wait, take over, or are paused into zombies, two processes on one state
// dir, S3 outages, broker restarts, and downtime longer than the
// transaction timeout — two jobs at once: a passthrough of
// sequence-numbered records, checked for every input exactly once in the
// committed output, and a keyed count, checked for each key's counts 1..n
// exactly once.
//
// TIDEMARK_SCHEDULE_SEED replays a seed; TIDEMARK_SCHEDULE_STEPS sets the
// length (CI: defaultScheduleSteps; make chaos: 200).

const defaultScheduleSteps = 20

// Settings every run of the schedule shares.
const (
	// Well above the longest broker restart of a schedule on a loaded
	// machine (27s seen with load 10): a pending transaction older than
	// this when the broker comes back is aborted, and if a checkpoint's
	// commits were split (one task committed, the broker went away before
	// the other's commit) that halts the job (see docs/exactly-once.md).
	txnTimeout   = 45 * time.Second
	ckptTimeout  = 3 * time.Second
	leaseTimeout = 2 * time.Second
	inputRate    = 400 // records per second per job
	parallelism  = 2
)

func scheduleParams(t *testing.T) (seed uint64, steps int) {
	seed = uint64(time.Now().UnixNano())
	if v := os.Getenv("TIDEMARK_SCHEDULE_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("TIDEMARK_SCHEDULE_SEED=%q is not a number", v)
		}
		seed = n
	}
	steps = defaultScheduleSteps
	if v := os.Getenv("TIDEMARK_SCHEDULE_STEPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TIDEMARK_SCHEDULE_STEPS=%q is not a positive number", v)
		}
		steps = n
	}
	return seed, steps
}

// TestScheduleExactlyOnce runs one generated schedule (see above) and
// checks the output of both jobs, the exits the model expects, and that no
// named restore is restored twice.
func TestScheduleExactlyOnce(t *testing.T) {
	seed, n := scheduleParams(t)
	plan := generate(seed, n)
	replay := fmt.Sprintf("TIDEMARK_SCHEDULE_SEED=%d TIDEMARK_SCHEDULE_STEPS=%d go test -count=1 -v -run TestScheduleExactlyOnce ./integration/", seed, n)
	t.Logf("schedule: replay with %s\n%s", replay, plan)
	limit := 20*time.Minute + time.Duration(n)*20*time.Second
	if d, ok := t.Deadline(); ok {
		limit = time.Until(d) - time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	s := newSched(ctx, t, plan)
	defer s.cleanup()
	began := time.Now()
	s.begin()
	for _, st := range plan.Steps {
		if ctx.Err() != nil {
			s.violation("schedule ran out of time before step %d", st.N)
			break
		}
		s.run(st)
		if t.Failed() {
			break
		}
	}
	ran := time.Since(began)
	s.finish()
	s.report(ran)
	if len(s.violations) > 0 || t.Failed() {
		s.dump(replay)
		for _, v := range s.violations {
			t.Error(v)
		}
	}
}

// TestScheduleGenerator: a seed always gives the same schedule, every step
// is allowed where it stands, and a schedule of minCovered steps or more
// covers every kind in mustKinds and pauses a holder.
func TestScheduleGenerator(t *testing.T) {
	for seed := range uint64(400) {
		n := []int{minCovered, 60}[seed%2]
		a, b := generate(seed, n), generate(seed, n)
		if a.String() != b.String() {
			t.Fatalf("seed %d: two schedules differ:\n%s\n%s", seed, a, b)
		}
		var m genModel
		seen := map[stepKind]bool{}
		paused := false
		for _, st := range a.Steps {
			j := st.Job
			if j == jobAll {
				j = 0
			}
			if !m.allowed(st.Kind, j) {
				t.Fatalf("seed %d: step %s not allowed there:\n%s", seed, st, a)
			}
			m.apply(st)
			seen[st.Kind] = true
			paused = paused || st.How == handPauseActive
		}
		for _, k := range mustKinds {
			if !seen[k] {
				t.Fatalf("seed %d: no %s step:\n%s", seed, k, a)
			}
		}
		if !paused {
			t.Fatalf("seed %d: no holder paused:\n%s", seed, a)
		}
	}
	if generate(1, 60).String() == generate(2, 60).String() {
		t.Fatal("seeds 1 and 2 give the same schedule")
	}
}

// sched runs a schedule.
type sched struct {
	t     *testing.T
	ctx   context.Context
	plan  *schedule
	kafka testenv.KafkaEnv
	s3    testenv.S3Env
	bin   string
	dir   string
	root  string // checkpoint.storage
	store storage.Store

	jobs [2]*sjob
	runs []*proc
	cur  step

	mu         sync.Mutex // guards the fields below (savepoint goroutines)
	violations []string
	events     []string
	stats      map[string]int
	spCalls    []*spCall
	outages    int // S3 outages and broker restarts so far
}

// sjob is one job of the schedule.
type sjob struct {
	idx          int
	name         string
	in, out, dlq string
	active       *inst // the supervised instance (a container)
	waiter       *inst // a second instance waiting for the job
	zombie       *proc // a paused former holder
	nInst        int
	procs        []*proc
	prod         *seqProducer
	lost         bool // a run reported lost output
}

// inst is an instance of a job: a state dir and a configuration, run by
// one process at a time.
type inst struct {
	name     string
	stateDir string
	cfgPath  string
	run      runSettings
	from     string // --from for its starts (container arguments)
	fromRan  bool   // a start with from reached its pipeline: the next start repeats it, the last
	proc     *proc
}

func newSched(ctx context.Context, t *testing.T, plan *schedule) *sched {
	k, s3env := testenv.Kafka(t), testenv.S3(t)
	dir, err := os.MkdirTemp("", "tidemark-schedule-")
	if err != nil {
		t.Fatal(err)
	}
	prefix := strings.TrimSuffix(s3env.Prefix(t), "/")
	s := &sched{
		t: t, ctx: ctx, plan: plan, kafka: k, s3: s3env, bin: processorBinary(t), dir: dir,
		root:  fmt.Sprintf("s3://%s/%s", s3env.Bucket, prefix),
		store: storage.NewS3(s3env.Client(), s3env.Bucket, prefix),
		stats: map[string]int{},
	}
	for j := range s.jobs {
		sj := &sjob{idx: j, name: testenv.UniqueName(t, jobNames[j])}
		sj.in = k.CreateTopic(t, 4, nil)
		sj.out = k.CreateTopic(t, 4, nil)
		sj.dlq = k.CreateTopic(t, 1, nil)
		s.jobs[j] = sj
	}
	t.Logf("schedule: brokers %v, S3 %s, checkpoints %s, logs in %s", k.Brokers, s3env.Endpoint, s.root, dir)
	return s
}

func (s *sched) cleanup() {
	for _, p := range s.runs {
		if p.alive() {
			p.signal(syscall.SIGCONT)
			p.kill()
		}
	}
	for _, j := range s.jobs {
		if j != nil && j.prod != nil {
			j.prod.stop()
		}
	}
	if !s.t.Failed() && os.Getenv("TIDEMARK_SCHEDULE_KEEP") == "" {
		_ = os.RemoveAll(s.dir)
	} else {
		s.t.Logf("schedule: logs and state kept in %s", s.dir)
	}
}

// logf logs an event of the schedule, as it happens.
func (s *sched) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.events = append(s.events, fmt.Sprintf("%s %s", time.Now().Format("15:04:05.000"), msg))
	s.mu.Unlock()
	s.t.Log(msg)
}

// violation records that the model's expectation did not hold.
func (s *sched) violation(format string, args ...any) {
	msg := fmt.Sprintf("step %d (%s): ", s.cur.N, s.cur.Kind) + fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.violations = append(s.violations, msg)
	s.mu.Unlock()
	s.logf("VIOLATION %s", msg)
}

func (s *sched) count(what string, n int) {
	s.mu.Lock()
	s.stats[what] += n
	s.mu.Unlock()
}

// begin starts the input and the first instance of each job.
func (s *sched) begin() {
	for _, j := range s.jobs {
		j.prod = startProducer(s.ctx, s.t, s.kafka, j.in, j.idx)
		in := s.newInst(j, s.plan.First[j.idx])
		j.active = in
		p := s.start(j, in, "", "first start")
		s.waitRunning(p, time.Minute)
	}
}

func (s *sched) newInst(j *sjob, run runSettings) *inst {
	name := string(rune('a' + j.nInst))
	j.nInst++
	return &inst{
		name: name, run: run,
		stateDir: filepath.Join(s.dir, jobNames[j.idx]+"-"+name, "state"),
		cfgPath:  filepath.Join(s.dir, jobNames[j.idx]+"-"+name, "tidemark.yaml"),
	}
}

// writeConfig writes the configuration of job j with state dir stateDir,
// settings run and the HTTP port port to path.
func (s *sched) writeConfig(j *sjob, path, stateDir string, run runSettings, port int) {
	op := "passthrough"
	if j.idx == jobCount {
		op = "count"
	}
	cfg := fmt.Sprintf(`job:
  name: %s
  parallelism: %d
kafka:
  brokers: [%s]
source:
  topics: [%s]
  start_offset: earliest
pipeline:
  operators:
    - type: %s
sink:
  topic: %s
  dead_letter_topic: %s
  delivery: exactly_once
  transaction_timeout: %s
checkpoint:
  storage: %s
  interval: %s
  timeout: %s
  max_concurrent: %d
  tolerable_failures: %d
  retained: %d
  lease_timeout: %s
savepoints:
  min_interval: 0s
state:
  dir: %s
s3:
  endpoint: %s
  region: %s
  path_style: true
http:
  listen: 127.0.0.1:%d
log:
  level: info
  format: json
`, j.name, parallelism, strings.Join(s.kafka.Brokers, ", "), j.in, op, j.out, j.dlq, txnTimeout, s.root,
		run.Interval, ckptTimeout, run.MaxConcurrent, run.Tolerable, run.Retained, leaseTimeout,
		stateDir, s.s3.Endpoint, s.s3.Region, port)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
	if out, err := runCmd(s.ctx, time.Minute, s.bin, s.env(""), "validate", "--config", path); err != nil {
		s.t.Fatalf("processor validate refuses the schedule's configuration %s: %v\n%s", path, err, out)
	}
}

func (s *sched) env(crash string) []string { return cleanEnv(s.s3.AccessKey, s.s3.SecretKey, crash) }

// start starts a process for instance in of job j, with the crash point
// crash armed and the instance's --from (see inst.from).
func (s *sched) start(j *sjob, in *inst, crash, why string) *proc {
	if prev := in.proc; prev != nil && in.from != "" && !in.fromRan && prev.fromArg == in.from && !prev.fromRepeat {
		if _, ok := prev.find(0, `"msg":"pipeline running"`); ok {
			in.fromRan = true
		}
	}
	from, repeat := in.from, false
	if in.fromRan {
		// A container restarted with the same arguments: this start
		// repeats --from, for the last time.
		repeat = true
		in.from, in.fromRan = "", false
	}
	port, err := freePort()
	if err != nil {
		s.t.Fatal(err)
	}
	s.writeConfig(j, in.cfgPath, in.stateDir, in.run, port)
	args := []string{"run", "--config", in.cfgPath}
	if from != "" {
		args = append(args, "--from", from)
	}
	id := len(s.runs) + 1
	p, err := startProc(s.bin, args, s.env(crash), logName(s.dir, id, j.idx, in.name))
	if err != nil {
		s.t.Fatalf("start processor: %v", err)
	}
	p.id, p.job, p.instance, p.crash, p.cfgPath = id, j.idx, in.name, crash, in.cfgPath
	p.fromArg, p.fromRepeat = from, repeat
	s.runs = append(s.runs, p)
	j.procs = append(j.procs, p)
	in.proc = p
	extra := ""
	if crash != "" {
		extra += " crash=" + crash
	}
	if from != "" {
		extra += " --from " + from
		if repeat {
			extra += " (again: same arguments)"
		}
	}
	s.logf("  start %s: %s, %s%s", p, why, in.run, extra)
	return p
}

// waitRunning waits for p's pipeline to run; it reports whether it does.
func (s *sched) waitRunning(p *proc, d time.Duration) bool {
	_, ok := p.waitLine(s.ctx, d, 0, `"msg":"pipeline running"`)
	return ok
}

// holder is the live process of job j holding the newest lease
// generation (a paused one holds nothing: it is taken over).
func (s *sched) holder(j *sjob) *proc {
	var best *proc
	for _, p := range j.procs {
		p.mu.Lock()
		paused := p.paused
		p.mu.Unlock()
		if g := p.leaseGen(); p.alive() && !paused && g > 0 && (best == nil || g > best.leaseGen()) {
			best = p
		}
	}
	return best
}

// waitHolder waits for p to hold the job.
func (s *sched) waitHolder(j *sjob, p *proc, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for s.holder(j) != p {
		if !p.alive() || time.Now().After(deadline) || s.ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// supervise restarts the exited processes of every job's active and
// waiting instance, as a container supervisor would; skip is a job whose
// active instance the step starts itself.
func (s *sched) supervise(skip int) {
	for _, j := range s.jobs {
		for _, in := range []*inst{j.active, j.waiter} {
			if in == nil || in == j.active && j.idx == skip {
				continue
			}
			if in.proc != nil && in.proc.alive() {
				continue
			}
			if in.proc != nil {
				s.judge(in.proc)
			}
			s.start(j, in, "", "supervisor restart")
			s.count("supervisor restarts", 1)
		}
	}
}

var zombieRe = regexp.MustCompile(`pid (\d+) on \S+ \(state dir [^)]*\) took the job over \(lease generation (\d+)`)

// judge checks how an exited process ended against what the harness did
// to it. Each process is judged once.
func (s *sched) judge(p *proc) {
	if p.alive() || p.judged {
		return
	}
	p.judged = true
	ex := p.exit()
	f := p.getFate()
	for _, l := range p.linesFrom(0) {
		switch {
		case strings.HasPrefix(l, "processor: ") && strings.Contains(l, "were aborted by the broker") && strings.Contains(l, "are lost"):
			// The job halts for good: the first run that says so is the
			// finding, the others repeat it.
			s.count("runs that stopped with lost output", 1)
			if j := s.jobs[p.job]; !j.lost {
				j.lost = true
				s.violation("%s reports lost output (the job halts for good): %s", p, l)
			}
		case strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") || strings.Contains(l, "DATA RACE"):
			s.violation("%s: %s", p, l)
		}
	}
	switch {
	case f == fateKilled:
	case p.crashed():
		name, _, _ := strings.Cut(p.crash, ":")
		s.count("crash point reached: "+name, 1)
		s.logf("  %s died at crash point %s", p, p.crash)
	case f == fateTerm:
		if ex != "exit 0" {
			s.violation("%s was stopped cleanly but ended with %s: %s", p, ex, p.lastError())
		}
	case f == fateZombie:
		s.checkZombieExit(p)
	default:
		s.count("exits on their own", 1)
		s.logf("  %s exited on its own (%s): %s", p, ex, p.lastError())
		if ex != "exit 1" {
			s.violation("%s exited with %s: %s", p, ex, p.lastError())
		}
		if _, ok := p.find(0, "took the job over"); ok {
			s.checkZombieExit(p)
		}
	}
}

// checkZombieExit: a process that lost the job exits non-zero with a
// message naming the newer holder, a run of the job that took that lease
// generation.
func (s *sched) checkZombieExit(p *proc) {
	if p.exitCode() < 1 {
		s.violation("%s lost the job and must exit non-zero, but ended with %s", p, p.exit())
	}
	l, ok := p.find(0, "took the job over")
	if !ok {
		s.violation("%s lost the job but its log does not name the newer holder (%s): %s", p, p.exit(), p.lastError())
		return
	}
	m := zombieRe.FindStringSubmatch(l)
	if m == nil {
		s.violation("%s: cannot read the newer holder from %q", p, l)
		return
	}
	pid, _ := strconv.Atoi(m[1])
	gen, _ := strconv.ParseInt(m[2], 10, 64)
	for _, q := range s.jobs[p.job].procs {
		if q != p && q.pid() == pid && q.leaseGen() == gen {
			s.logf("  %s exited (%s) naming the newer holder %s, generation %d", p, p.exit(), q, gen)
			s.count("zombies exited naming the new holder", 1)
			return
		}
	}
	s.violation("%s names pid %d as holder of generation %d, but no run of the job took that generation: %s", p, pid, gen, l)
}

// run executes one step.
func (s *sched) run(st step) {
	s.cur = st
	s.logf("%s", st)
	s.count("step "+string(st.Kind), 1)
	skip := jobAll
	switch st.Kind {
	case kindRestart, kindFromNewest, kindLongDowntime:
		skip = st.Job
	}
	s.supervise(skip)
	s.pollSavepoints()
	var j *sjob
	if st.Job >= 0 {
		j = s.jobs[st.Job]
	}
	switch st.Kind {
	case kindWait:
		s.sleep(time.Duration(st.Ms) * time.Millisecond)
	case kindKill:
		s.sleep(time.Duration(st.Ms) * time.Millisecond)
		p := s.holder(j)
		if p == nil && j.active.proc != nil && j.active.proc.alive() {
			p = j.active.proc
		}
		if p != nil {
			p.kill()
			s.logf("  killed %s", p)
		}
	case kindRestart:
		s.restart(j, st)
	case kindSavepoint:
		p := s.holder(j)
		if p == nil {
			p = j.active.proc
		}
		if !s.waitRunning(p, 30*time.Second) {
			s.logf("  %s does not run its pipeline (%s): no savepoint", p, p.exit())
			break
		}
		if c := s.savepoint(p, st.Name); c != nil {
			select {
			case <-c.done:
			case <-time.After(time.Duration(st.Ms) * time.Millisecond):
			}
		}
	case kindStopSavepoint:
		s.stopSavepoint(j, st.Name)
	case kindFromNewest:
		s.fromNewest(j)
	case kindSecond:
		s.second(j)
	case kindHandover:
		s.handover(j, st.How)
	case kindWake:
		s.wake(j)
	case kindSameDir:
		s.sameDir(j, time.Duration(st.Ms)*time.Millisecond)
	case kindS3Outage:
		s.outage()
		testenv.KillS3(s.t)
		s.logf("  S3 server down for %dms", st.Ms)
		s.sleep(time.Duration(st.Ms) * time.Millisecond)
		testenv.RestartS3(s.t)
		s.logf("  S3 server up again")
	case kindKafkaRestart:
		s.outage()
		if st.Crash == "kill" {
			testenv.KillKafka(s.t)
			s.logf("  broker killed")
		}
		began := time.Now()
		testenv.RestartKafka(s.t)
		s.logf("  broker restarted in %v", time.Since(began).Round(100*time.Millisecond))
	case kindLongDowntime:
		s.longDowntime(j, st.Crash)
	}
}

func (s *sched) sleep(d time.Duration) {
	select {
	case <-time.After(d):
	case <-s.ctx.Done():
	}
}

func (s *sched) outage() {
	s.mu.Lock()
	s.outages++
	s.mu.Unlock()
}

// restart kills the active instance and starts it again with a crash
// point armed, and waits for the crash (bounded).
func (s *sched) restart(j *sjob, st step) {
	in := j.active
	if p := in.proc; p != nil && p.alive() {
		p.kill()
	} else if p != nil {
		s.judge(p)
	}
	if st.Run != nil {
		in.run = *st.Run
	}
	p := s.start(j, in, st.Crash, "restart")
	switch {
	case st.Crash == "":
		s.waitRunning(p, 30*time.Second)
	case slices.Contains(restoreCrashPoints, st.Crash) || st.Crash == "settle.after-commit-one":
		// Fires before the pipeline runs, or not at all.
		if _, ok := p.waitLine(s.ctx, 30*time.Second, 0, `"msg":"pipeline running"`); ok {
			s.logf("  crash point %s not reached: %s runs", st.Crash, p)
			s.count("crash points not reached", 1)
			return
		}
		s.judge(p)
	case strings.HasPrefix(st.Crash, "savepoint.before-metadata"):
		if s.waitRunning(p, 30*time.Second) {
			s.savepoint(p, st.Name)
		}
		fallthrough
	default:
		if !p.waitExit(s.ctx, 15*time.Second) {
			s.logf("  crash point %s not reached within 15s: left armed", st.Crash)
			s.count("crash points not reached in time", 1)
			return
		}
		s.judge(p)
	}
}

// fromNewest kills the active instance and restarts it with --from the
// newest complete checkpoint that may be restored.
func (s *sched) fromNewest(j *sjob) {
	in := j.active
	if p := in.proc; p != nil && p.alive() {
		p.kill()
	} else if p != nil {
		s.judge(p)
	}
	id, err := s.newestCheckpoint(j)
	if err != nil {
		s.violation("list the checkpoints of %s: %v", j.name, err)
	}
	if id == 0 {
		s.logf("  no complete checkpoint yet: plain start")
		s.start(j, in, "", "from-newest without a checkpoint")
		return
	}
	in.from, in.fromRan = strconv.FormatInt(id, 10), false
	p := s.start(j, in, "", fmt.Sprintf("restore of the newest checkpoint %d", id))
	s.checkNamedRestore(p, "checkpoint:"+in.from)
}

// newestCheckpoint lists the job's checkpoint storage and returns the
// newest complete checkpoint the lease fences allow (0: none).
func (s *sched) newestCheckpoint(j *sjob) (int64, error) {
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	st := checkpoint.JobStore(s.store, j.name)
	f, err := checkpoint.LoadFences(ctx, st)
	if err != nil {
		return 0, err
	}
	p, err := checkpoint.PlanRestore(ctx, st, checkpoint.RestoreOptions{Fences: f})
	if err != nil || p.Newest == nil {
		return 0, err
	}
	return p.Newest.CheckpointID, nil
}

// checkNamedRestore waits for p (started with --from) to run and says how
// it restored.
func (s *sched) checkNamedRestore(p *proc, origin string) {
	if !s.waitRunning(p, time.Minute) {
		s.logf("  %s did not reach its pipeline (%s): %s", p, p.exit(), p.lastError())
		return
	}
	if l, ok := p.find(0, `"msg":"restore recorded as a new checkpoint"`); ok {
		s.logf("  named restore %s recorded as checkpoint %d", strField(l, "origin"), int64(field(l, "checkpoint")))
		s.count("named restores recorded", 1)
	} else if _, ok := p.find(0, "--from ignored"); ok {
		s.logf("  --from ignored: %s was recorded already", origin)
	}
}

// stopSavepoint stops the job with a savepoint and restores it.
func (s *sched) stopSavepoint(j *sjob, name string) {
	in := j.active
	p := in.proc
	if !s.waitRunning(p, time.Minute) {
		s.logf("  %s is not running (%s): no stop with savepoint", p, p.exit())
		return
	}
	out, err := runCmd(s.ctx, time.Minute, s.bin, s.env(""), "savepoint", "--stop", "--name", name, "--config", p.cfgPath, "--timeout", "50s")
	switch {
	case err == nil:
		p.setFate(fateTerm)
		if !p.waitExit(s.ctx, 30*time.Second) {
			s.violation("%s still runs 30s after savepoint --stop succeeded", p)
			p.kill()
		}
		s.judge(p)
	case p.crashed() || !p.alive():
		s.logf("  savepoint --stop failed, %s ended (%s, crash point %q): %v: %s", p, p.exit(), p.crash, err, out)
		s.judge(p)
		return
	case refused(out):
		s.logf("  savepoint --stop refused by %s: %s", p, out)
		return
	default:
		s.violation("savepoint --stop --name %s on %s failed: %v: %s", name, p, err, out)
		return
	}
	s.count("stop-with-savepoint", 1)
	s.logf("  stopped with savepoint %s: %s", name, strings.ReplaceAll(out, "\n", " | "))
	in.from, in.fromRan = name, false
	np := s.start(j, in, "", "restore of the stop-with-savepoint")
	s.checkNamedRestore(np, "savepoint:"+name)
}

// second starts a second instance of the job (its own state dir) while
// the active one holds the job: it must wait, naming the holder.
func (s *sched) second(j *sjob) {
	a := j.active.proc
	if !s.waitHolder(j, a, 30*time.Second) {
		s.logf("  %s does not hold the job (%s)", a, a.exit())
	}
	in := s.newInst(j, j.active.run)
	j.waiter = in
	b := s.start(j, in, "", "second instance")
	l, ok := b.waitLine(s.ctx, 15*time.Second, 0, "the job is held by another instance")
	h := s.holder(j)
	switch {
	case ok && h != nil && h != b:
		if !strings.Contains(strField(l, "holder"), fmt.Sprintf("pid %d ", h.pid())) {
			s.violation("%s waits, naming %q, but %s holds the job", b, strField(l, "holder"), h)
		}
		s.logf("  %s waits for %s", b, h)
	case h == b && a.alive() && !a.paused:
		s.violation("%s took the job while %s held it", b, a)
	default:
		s.logf("  %s: holder %v, waiting %v (%s)", b, h, ok, b.exit())
	}
}

// handover ends the second instance's wait.
func (s *sched) handover(j *sjob, how string) {
	b := j.waiter
	a := j.active
	bp, ap := b.proc, a.proc
	// Both may have been restarted just now (the supervisor, after an
	// outage): wait until one of them holds the job.
	h := s.holder(j)
	for deadline := time.Now().Add(30 * time.Second); h == nil && time.Now().Before(deadline) && s.ctx.Err() == nil; h = s.holder(j) {
		time.Sleep(50 * time.Millisecond)
	}
	if h != ap && h != bp {
		s.logf("  neither %s nor %s holds the job (holder %v): stopping the second instance instead", ap, bp, h)
		how = handStopSecond
	}
	if h == bp {
		// The active instance died meanwhile and b took over: the
		// rolling update is done.
		s.logf("  %s holds the job already", bp)
		if ap.alive() {
			ap.setFate(fateTerm)
			ap.signal(syscall.SIGTERM)
			if !ap.waitExit(s.ctx, 30*time.Second) {
				s.violation("%s (not holding) still runs 30s after SIGTERM", ap)
				ap.kill()
			}
			s.judge(ap)
		}
		j.active, j.waiter = b, nil
		return
	}
	idx := bp.nLines()
	switch how {
	case handStopActive, handKillActive, handPauseActive:
		switch how {
		case handStopActive:
			ap.setFate(fateTerm)
			ap.signal(syscall.SIGTERM)
			if !ap.waitExit(s.ctx, 30*time.Second) {
				s.violation("%s still runs 30s after SIGTERM", ap)
				ap.kill()
			}
			s.judge(ap)
		case handKillActive:
			ap.kill()
		case handPauseActive:
			ap.signal(syscall.SIGSTOP)
			ap.mu.Lock()
			ap.paused = true
			ap.mu.Unlock()
			j.zombie = ap
		}
		s.logf("  %s: %s", how, ap)
		if _, ok := bp.waitLine(s.ctx, 30*time.Second, idx, `"msg":"job lease taken"`); !ok {
			s.violation("%s did not take the job over within 30s of %s of %s (%s): %s", bp, how, ap, bp.exit(), bp.lastError())
		} else {
			s.count("takeovers after "+how, 1)
			s.logf("  %s took the job over", bp)
		}
		j.active, j.waiter = b, nil
	case handStopSecond:
		bp.setFate(fateTerm)
		bp.signal(syscall.SIGTERM)
		if !bp.waitExit(s.ctx, 30*time.Second) {
			s.violation("waiting %s still runs 30s after SIGTERM", bp)
			bp.kill()
		}
		s.judge(bp)
		s.logf("  waiting %s stopped (%s)", bp, bp.exit())
		j.waiter = nil
	}
}

// wake resumes the paused former holder: it must exit non-zero naming the
// newer holder, and complete no checkpoint after it woke.
func (s *sched) wake(j *sjob) {
	z := j.zombie
	j.zombie = nil
	idx := z.nLines()
	z.setFate(fateZombie)
	z.mu.Lock()
	z.paused = false
	z.mu.Unlock()
	z.signal(syscall.SIGCONT)
	if !z.waitExit(s.ctx, 30*time.Second) {
		s.violation("%s still runs 30s after it woke up, although it lost the job", z)
		z.kill()
	}
	for _, l := range z.linesFrom(idx) {
		if strings.Contains(l, `"msg":"checkpoint complete"`) || strings.Contains(l, `"msg":"pending transaction committed"`) {
			s.violation("%s committed after it woke up as a zombie: %s", z, l)
		}
	}
	s.judge(z)
}

// sameDir runs a second process on the active instance's state dir for d.
func (s *sched) sameDir(j *sjob, d time.Duration) {
	a := j.active.proc
	if !s.waitHolder(j, a, 30*time.Second) {
		s.logf("  %s does not hold the job (%s)", a, a.exit())
	}
	port, err := freePort()
	if err != nil {
		s.t.Fatal(err)
	}
	in := j.active
	cfg := filepath.Join(s.dir, fmt.Sprintf("%s-%s-twin-%d.yaml", jobNames[j.idx], in.name, s.cur.N))
	s.writeConfig(j, cfg, in.stateDir, in.run, port)
	id := len(s.runs) + 1
	c, err := startProc(s.bin, []string{"run", "--config", cfg}, s.env(""), logName(s.dir, id, j.idx, in.name+"-twin"))
	if err != nil {
		s.t.Fatal(err)
	}
	c.id, c.job, c.instance, c.cfgPath = id, j.idx, in.name+"-twin", cfg
	s.runs = append(s.runs, c)
	j.procs = append(j.procs, c)
	s.logf("  start %s on the state dir of %s", c, a)
	c.waitExit(s.ctx, d)
	took := c.leaseGen() > 0
	if c.alive() {
		c.kill()
		s.logf("  killed %s (it took the job: %v)", c, took)
	} else {
		s.logf("  %s ended by itself (%s): %s", c, c.exit(), c.lastError())
		if c.exitCode() == 0 {
			s.violation("%s on another's state dir exited 0", c)
		}
		s.judge(c)
	}
	if took && a.alive() {
		a.setFate(fateZombie)
		if !a.waitExit(s.ctx, 15*time.Second) {
			s.violation("%s still runs 15s after %s took its job", a, c)
			a.kill()
		}
		s.judge(a)
	}
	s.count("same state dir: second process took the job", map[bool]int{true: 1}[took])
}

// longDowntime crashes the job between a checkpoint's metadata and its
// commit, keeps it down until the broker aborted its open transactions,
// and starts it again: it must restore an older checkpoint.
func (s *sched) longDowntime(j *sjob, crash string) {
	in := j.active
	if p := in.proc; p != nil && p.alive() {
		p.kill()
	} else if p != nil {
		s.judge(p)
	}
	p := s.start(j, in, crash, "long downtime")
	if !p.waitExit(s.ctx, 30*time.Second) {
		s.logf("  %s did not reach %s within 30s: killing it", p, crash)
		p.kill()
	}
	s.judge(p)
	down := time.Now()
	s.sleep(txnTimeout)
	if n := s.waitTxnsAborted(j, 45*time.Second); n > 0 {
		s.violation("the broker still lists %d ongoing transactions of %s %v after the crash", n, j.name, time.Since(down).Round(time.Second))
	}
	s.logf("  down for %v", time.Since(down).Round(100*time.Millisecond))
	np := s.start(j, in, "", "after downtime longer than the transaction timeout")
	if !s.waitRunning(np, 90*time.Second) {
		s.logf("  %s did not reach its pipeline (%s): %s", np, np.exit(), np.lastError())
		return
	}
	lost := np.count(`"msg":"pending transaction examined"`, `"verdict":"lost"`)
	_, fell := np.find(0, "restoring an older checkpoint")
	s.logf("  after the downtime: %d pending transactions found lost, fell back to an older checkpoint: %v", lost, fell)
	if lost > 0 && !fell {
		s.violation("%s found %d transactions lost but did not fall back to an older checkpoint", np, lost)
	}
	if fell {
		s.count("fallbacks after downtime", 1)
	}
}

// waitTxnsAborted polls the broker until no transaction of job j is
// ongoing, and returns how many still are after d.
func (s *sched) waitTxnsAborted(j *sjob, d time.Duration) int {
	adm := s.kafka.Admin(s.t)
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		listed, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
		cancel()
		n := 0
		if err == nil {
			for id := range listed {
				if strings.HasPrefix(id, "tidemark-"+j.name+"-") {
					n++
				}
			}
		}
		if err == nil && n == 0 || time.Now().After(deadline) || s.ctx.Err() != nil {
			return n
		}
		s.sleep(500 * time.Millisecond)
	}
}

// refused reports whether a savepoint's output is the processor's refusal
// while its job restores (at start, or restarting in-process), or, for a
// stop with savepoint, the refusal after its final checkpoint failed (the
// job restarts and keeps running).
func refused(out string) bool {
	return strings.Contains(out, "the job has not restored yet") || strings.Contains(out, "job: not running") ||
		strings.Contains(out, "keeps running")
}

// spCall is a savepoint asked for in the background.
type spCall struct {
	name    string
	target  *proc
	idx     int // target's log lines when asked
	outages int
	step    int
	done    chan struct{}
	out     string
	err     error
	checked bool
}

// savepoint asks p for savepoint name in the background.
func (s *sched) savepoint(p *proc, name string) *spCall {
	if p == nil {
		return nil
	}
	s.mu.Lock()
	c := &spCall{name: name, target: p, idx: p.nLines(), outages: s.outages, step: s.cur.N, done: make(chan struct{})}
	s.spCalls = append(s.spCalls, c)
	s.mu.Unlock()
	s.logf("  savepoint %s asked of %s", name, p)
	go func() {
		defer close(c.done)
		c.out, c.err = runCmd(s.ctx, 90*time.Second, s.bin, s.env(""), "savepoint", "--name", name, "--config", p.cfgPath, "--timeout", "80s")
	}()
	return c
}

// pollSavepoints judges the savepoints that finished: one nothing
// disturbed must have succeeded.
func (s *sched) pollSavepoints() {
	s.mu.Lock()
	calls := append([]*spCall(nil), s.spCalls...)
	outages := s.outages
	s.mu.Unlock()
	for _, c := range calls {
		if c.checked {
			continue
		}
		select {
		case <-c.done:
		default:
			continue
		}
		c.checked = true
		if c.err == nil {
			s.count("savepoints written", 1)
			s.logf("  savepoint %s (step %d) written: %s", c.name, c.step, strings.ReplaceAll(c.out, "\n", " | "))
			continue
		}
		p := c.target
		if refused(c.out) {
			s.count("savepoints refused while the job restores", 1)
			s.logf("  savepoint %s (step %d) refused by %s: %s", c.name, c.step, p, c.out)
			continue
		}
		_, restarted := p.find(c.idx, "restarting the job")
		disturbed := p.getFate() != fateNone || !p.alive() || p.paused || restarted || outages != c.outages || p.crash != ""
		if disturbed {
			s.count("savepoints failed (disturbed)", 1)
			s.logf("  savepoint %s (step %d) failed while %s was disturbed: %v: %s", c.name, c.step, p, c.err, c.out)
			continue
		}
		s.count("savepoints failed", 1)
		s.violation("savepoint %s (asked at step %d of %s, which ran undisturbed) failed: %v: %s", c.name, c.step, p, c.err, c.out)
	}
}

// finish stops the input, ends every process, starts a final instance of
// each job and checks its output.
func (s *sched) finish() {
	s.cur = step{N: len(s.plan.Steps) + 1, Kind: "final"}
	s.logf("final: stop the input, wake zombies, stop waiters, start a final instance of each job")
	for _, j := range s.jobs {
		j.prod.stop()
	}
	for _, c := range s.spCalls {
		select {
		case <-c.done:
		case <-time.After(2 * time.Minute):
			s.violation("savepoint %s still unanswered", c.name)
		}
	}
	s.pollSavepoints()
	for _, j := range s.jobs {
		if j.zombie != nil {
			s.wake(j)
		}
		if j.waiter != nil {
			s.handover(j, handStopSecond)
		}
		for _, p := range j.procs {
			if p.alive() {
				p.kill()
			}
			s.judge(p)
		}
		j.active.from, j.active.fromRan = "", false
	}
	var finals [2]*proc
	for _, j := range s.jobs {
		finals[j.idx] = s.start(j, j.active, "", "final instance")
	}
	for _, j := range s.jobs {
		p := finals[j.idx]
		if !s.waitRunning(p, 2*time.Minute) {
			s.violation("the final instance %s does not run (%s): %s", p, p.exit(), p.lastError())
			continue
		}
		s.checkOutput(j)
	}
	for _, p := range finals {
		if !p.alive() {
			s.judge(p)
			continue
		}
		p.setFate(fateTerm)
		p.signal(syscall.SIGTERM)
		if !p.waitExit(s.ctx, time.Minute) {
			s.violation("the final instance %s still runs a minute after SIGTERM", p)
			p.kill()
		}
		s.judge(p)
	}
	s.checkOrigins()
}

// checkOrigins: a named restore (checkpoint or savepoint) is recorded at
// most once: a restart with the same --from goes on from the newest
// checkpoint instead of restoring it again.
func (s *sched) checkOrigins() {
	for _, j := range s.jobs {
		seen := map[string][]*proc{}
		for _, p := range j.procs {
			for _, l := range p.linesFrom(0) {
				if !strings.Contains(l, `"msg":"restore recorded as a new checkpoint"`) {
					continue
				}
				o := strField(l, "origin")
				if strings.HasPrefix(o, "checkpoint:") || strings.HasPrefix(o, "savepoint:") {
					seen[o] = append(seen[o], p)
				}
			}
		}
		for o, ps := range seen {
			if len(ps) > 1 {
				s.violation("job %s restored %s %d times: %v", jobNames[j.idx], o, len(ps), ps)
			}
		}
		repeats := 0
		for _, p := range j.procs {
			if p.fromRepeat {
				repeats++
				if _, ok := p.find(0, "--from ignored"); ok {
					s.count("restarts with the same --from that went on from the newest checkpoint", 1)
				}
			}
		}
		s.count("restarts with the same --from", repeats)
	}
}

// report logs what the schedule did.
func (s *sched) report(ran time.Duration) {
	crashes := 0
	for _, p := range s.runs {
		s.count("runs", 1)
		s.count("checkpoints completed", p.count(`"msg":"checkpoint complete"`))
		s.count("checkpoints failed", p.count(`"msg":"checkpoint failed"`))
		s.count("in-process restarts", p.count(`"msg":"restarting the job from its newest complete checkpoint"`))
		s.count("fallbacks to an older checkpoint", p.count("restoring an older checkpoint"))
		s.count("pending transactions resume-committed", p.count(`"msg":"pending transaction committed"`))
		s.count("pending transactions found lost", p.count(`"msg":"pending transaction examined"`, `"verdict":"lost"`))
		s.count("waits for the lease", p.count("the job is held by another instance"))
		if p.crashed() {
			crashes++
		}
	}
	keys := make([]string, 0, len(s.stats))
	for k := range s.stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "schedule: seed %d, %d steps in %v\n", s.plan.Seed, len(s.plan.Steps), ran.Round(time.Second))
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-70s %d\n", k, s.stats[k])
	}
	s.t.Log(b.String())
}

// dump prints, for a failed schedule, the seed, the steps, the events and
// the warn and error lines of every run.
func (s *sched) dump(replay string) {
	var b strings.Builder
	fmt.Fprintf(&b, "schedule FAILED: replay with %s\n%s\nevents:\n", replay, s.plan)
	for _, e := range s.events {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	const maxLines = 40
	for _, p := range s.runs {
		w := collapse(p.warnings())
		fmt.Fprintf(&b, "%s %s, crash=%q, %s; warn/error lines (log %s):\n", p, strings.Join(p.args, " "), p.crash, p.exit(), p.logPath)
		if len(w) > maxLines {
			fmt.Fprintf(&b, "  ... %d earlier lines\n", len(w)-maxLines)
			w = w[len(w)-maxLines:]
		}
		for _, l := range w {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	s.t.Log(b.String())
}

// collapse replaces each run of log lines with the same message (the
// client's connection warnings during an outage) by its first line and a
// count.
func collapse(lines []string) []string {
	var out []string
	for i := 0; i < len(lines); {
		msg := strField(lines[i], "msg")
		k := i + 1
		for msg != "" && k < len(lines) && strField(lines[k], "msg") == msg {
			k++
		}
		out = append(out, lines[i])
		if k-i > 1 {
			out = append(out, fmt.Sprintf("... %d more %q", k-i-1, msg))
		}
		i = k
	}
	return out
}
