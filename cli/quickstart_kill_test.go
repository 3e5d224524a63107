package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// killLog is the part of a log line the SIGKILL test looks at.
type killLog struct {
	Msg       string   `json:"msg"`
	Addresses []string `json:"addresses"`
}

// killProc is a processor run whose log lines a goroutine reads into a
// channel, so that the test can let it run for a while and kill it at any
// moment.
type killProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string // closed at the end of the log
	log   []string
}

func startKillProc(t *testing.T, ctx context.Context, bin, cfgPath string) *killProc {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &killProc{t: t, cmd: cmd, lines: make(chan string, 1<<16)}
	go func() { // ends when the process's stderr closes
		defer close(p.lines)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	return p
}

// next returns the next log line; ok is false at the end of the log or
// when the timer fires (then timedOut is true).
func (p *killProc) next(timer <-chan time.Time) (rec killLog, ok, timedOut bool) {
	select {
	case line, more := <-p.lines:
		if !more {
			return killLog{}, false, false
		}
		p.log = append(p.log, line)
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			p.t.Errorf("log line is not JSON: %q", line)
		}
		return rec, true, false
	case <-timer:
		return killLog{}, false, true
	}
}

// until reads log lines until match accepts one.
func (p *killProc) until(what string, match func(killLog) bool) killLog {
	p.t.Helper()
	timer := time.NewTimer(2 * time.Minute)
	defer timer.Stop()
	for {
		rec, ok, _ := p.next(timer.C)
		if !ok {
			_ = p.cmd.Process.Kill()
			p.t.Fatalf("log ended (or 2 minutes passed) before %s:\n%s", what, strings.Join(p.log, "\n"))
		}
		if match(rec) {
			return rec
		}
	}
}

// runFor lets the process run for d, reading its log; it returns false if
// the log ended first.
func (p *killProc) runFor(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		if _, ok, timedOut := p.next(timer.C); !ok {
			return timedOut
		}
	}
}

// finish reads the log to its end and waits for the process.
func (p *killProc) finish() error {
	for {
		if _, ok, _ := p.next(nil); !ok {
			return p.cmd.Wait()
		}
	}
}

func (p *killProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	_ = p.finish()
}

func (p *killProc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	p.until("the final checkpoint", func(r killLog) bool { return r.Msg == "final checkpoint complete and committed" })
	if err := p.finish(); err != nil {
		p.t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(p.log, "\n"))
	}
}

func (p *killProc) count(msg string) int {
	n := 0
	for _, line := range p.log {
		if strings.Contains(line, `"msg":"`+msg+`"`) {
			n++
		}
	}
	return n
}

// TestQuickstartSIGKILL runs the quickstart binary and kills it with
// SIGKILL at random moments (seeded: TIDEMARK_QUICKSTART_SEED replays a
// run; TIDEMARK_QUICKSTART_KILLS kills, default 3), the first time right
// after the first checkpoint completes (its commit happens then), restarting
// it each time. A last run generates no more events, processes the
// backlog and stops with SIGTERM. Then every count is checked, read
// read_committed: for every user the counts 1..n appear exactly once, n the
// user's number of well-formed input events, and each malformed event is
// in the dead-letter topic exactly once.
func TestQuickstartSIGKILL(t *testing.T) {
	kills := 3
	if s := os.Getenv("TIDEMARK_QUICKSTART_KILLS"); s != "" {
		var err error
		if kills, err = strconv.Atoi(s); err != nil || kills < 1 {
			t.Fatalf("TIDEMARK_QUICKSTART_KILLS=%q: want a positive number", s)
		}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TIDEMARK_QUICKSTART_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("TIDEMARK_QUICKSTART_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (TIDEMARK_QUICKSTART_SEED=%d replays the kill schedule), %d kills", seed, seed, kills)
	rng := rand.New(rand.NewPCG(seed, seed))

	dir := t.TempDir()
	bin, cfg, cfgPath := quickstartUnderTest(t, dir)
	// The last run adds no events, so that it can process them all.
	quiet := strings.NewReplacer("records: 1000 ", "records: 0 ", "rate_per_second: 200 ", "rate_per_second: 0 ").Replace(cfg)
	if quiet == cfg {
		t.Fatal("configs/quickstart.yaml changed: cannot switch its sample generator off")
	}
	quietPath := filepath.Join(dir, "quiet.yaml")
	if err := os.WriteFile(quietPath, []byte(quiet), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(kills)*30*time.Second+3*time.Minute)
	stateDir := filepath.Join(dir, "state")
	t.Cleanup(func() {
		// Before the temporary directory goes: end a processor a failed
		// test left running (ctx kills it), and let its broker save.
		cancel()
		waitBrokerGone(stateDir)
	})

	lost := 0
	for i := range kills {
		p := startKillProc(t, ctx, bin, cfgPath)
		var how string
		switch mode := rng.IntN(3); {
		case i == 0 || mode == 0:
			p.until("a checkpoint", func(r killLog) bool { return r.Msg == "checkpoint complete" })
			how = "right after a checkpoint completed"
		case mode == 1:
			d := time.Duration(rng.Int64N(int64(3 * time.Second)))
			if !p.runFor(d) {
				t.Fatalf("the processor exited by itself:\n%s", strings.Join(p.log, "\n"))
			}
			how = fmt.Sprintf("%s after its start", d.Round(time.Millisecond))
		default:
			p.until("the pipeline", func(r killLog) bool { return r.Msg == "pipeline running" })
			d := time.Duration(rng.Int64N(int64(2 * time.Second)))
			if !p.runFor(d) {
				t.Fatalf("the processor exited by itself:\n%s", strings.Join(p.log, "\n"))
			}
			how = fmt.Sprintf("%s after the pipeline started", d.Round(time.Millisecond))
		}
		p.kill()
		lost += p.count("pending transaction lost")
		t.Logf("kill %d: %s (%d log lines)", i+1, how, len(p.log))
		checkBrokerGone(t, stateDir)
	}

	p := startKillProc(t, ctx, bin, quietPath)
	addrs := p.until("the embedded broker", func(r killLog) bool { return len(r.Addresses) > 0 }).Addresses
	p.until("the pipeline", func(r killLog) bool { return r.Msg == "pipeline running" })
	want, malformed := readInput(t, ctx, addrs)
	total := 0
	for _, n := range want {
		total += n
	}
	// Wait until the backlog is processed and committed (or more: the
	// check below finds duplicates).
	waitCommitted(t, ctx, addrs, "clicks-per-user", total)
	p.stop()
	lost += p.count("pending transaction lost")
	checkBrokerGone(t, stateDir)
	if lost > 0 {
		t.Errorf("%d pending transactions were reported lost across the runs: with the embedded broker saving its data, none should be", lost)
	}

	seen := map[string]map[int]int{}
	out := readTopic(t, ctx, bin, cfgPath, "clicks-per-user")
	for _, kv := range out {
		n, err := strconv.Atoi(kv[1])
		if err != nil {
			t.Fatalf("output value %q is not a count", kv[1])
		}
		if seen[kv[0]] == nil {
			seen[kv[0]] = map[int]int{}
		}
		seen[kv[0]][n]++
	}
	missing, doubled := 0, 0
	for user, n := range want {
		for c := 1; c <= n; c++ {
			switch seen[user][c] {
			case 1:
			case 0:
				missing++
				if missing <= 10 {
					t.Errorf("%s: count %d (of %d) missing", user, c, n)
				}
			default:
				doubled++
				if doubled <= 10 {
					t.Errorf("%s: count %d written %d times", user, c, seen[user][c])
				}
			}
		}
		for c := range seen[user] {
			if c < 1 || c > n {
				t.Errorf("%s: count %d, but the user has %d events", user, c, n)
			}
		}
	}
	for user := range seen {
		if _, ok := want[user]; !ok {
			t.Errorf("output for %q, a user without events", user)
		}
	}
	dead := map[string]int{}
	for _, kv := range readTopic(t, ctx, bin, cfgPath, "clicks-dead-letters") {
		dead[kv[1]]++
	}
	for _, v := range malformed {
		if dead[v] != 1 {
			t.Errorf("malformed event %q is %d times in the dead-letter topic, want once", v, dead[v])
		}
	}
	if len(dead) != len(malformed) {
		t.Errorf("%d distinct dead letters, want %d", len(dead), len(malformed))
	}
	t.Logf("%d events (%d users, %d malformed), %d counts read back: %d missing, %d doubled", total+len(malformed), len(want), len(malformed), len(out), missing, doubled)
}

// readInput reads the whole input topic and returns the number of
// well-formed events per user (as key_by sees them) and the malformed
// events.
func readInput(t *testing.T, ctx context.Context, addrs []string) (map[string]int, []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("clicks"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "clicks")
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	want := map[string]int{}
	var malformed []string
	for n := int64(0); n < total; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d input events: %v", n, total, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("read %s[%d]: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			n++
			var ev map[string]json.RawMessage
			var user string
			if json.Unmarshal(r.Value, &ev) != nil || json.Unmarshal(ev["user"], &user) != nil {
				malformed = append(malformed, string(r.Value))
				return
			}
			want[user]++
		})
	}
	return want, malformed
}

// waitCommitted waits until topic holds at least n records read_committed.
func waitCommitted(t *testing.T, ctx context.Context, addrs []string, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for got := 0; got < n; {
		fs := cl.PollFetches(deadline)
		if deadline.Err() != nil {
			t.Fatalf("only %d of %d records reached %s read_committed in time", got, n, topic)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("read %s[%d]: %v", tp, p, err) })
		got += fs.NumRecords()
	}
}

// quickstartUnderTest builds the processor into dir and writes the
// quickstart's configuration for a test there: state and checkpoints in
// dir, a free HTTP port, JSON logs, 1 s checkpoints and the kill test's
// settings (killTestConfig). It returns the binary, the configuration and
// its path.
func quickstartUnderTest(t *testing.T, dir string) (bin, cfg, cfgPath string) {
	t.Helper()
	bin = filepath.Join(dir, "processor")
	if out, err := exec.Command("go", "build", "-o", bin, processorPkg).CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data, err := os.ReadFile("../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg = strings.NewReplacer(
		"/tmp/tidemark-quickstart", dir,
		"listen: 127.0.0.1:8081", "listen: 127.0.0.1:0",
		"format: auto", "format: json",
		"interval: 5s", "interval: 1s",
	).Replace(killTestConfig(string(data)))
	cfgPath = filepath.Join(dir, "quickstart.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return bin, cfg, cfgPath
}
