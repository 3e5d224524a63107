package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/embedded"
)

// runTail runs `processor tail` and returns its stdout, stderr and exit
// code.
func runTail(t *testing.T, ctx context.Context, bin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append([]string{"tail"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	default:
		t.Fatalf("tail: %v", err)
		return "", "", -1
	}
}

func lines(s string) []string {
	if s = strings.TrimSuffix(s, "\n"); s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// followTail is `processor tail -f` running, its output lines read into a
// channel.
type followTail struct {
	cmd    *exec.Cmd
	out    chan string // closed at the end of its output
	stderr *bytes.Buffer
}

func startFollow(t *testing.T, ctx context.Context, bin string, args ...string) *followTail {
	t.Helper()
	f := &followTail{cmd: exec.CommandContext(ctx, bin, append([]string{"tail", "-f"}, args...)...), out: make(chan string, 1<<16), stderr: &bytes.Buffer{}}
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	f.cmd.Stderr = f.stderr
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // ends when tail's stdout closes
		defer close(f.out)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f.out <- sc.Text()
		}
	}()
	return f
}

// read waits up to d for n more lines and returns how many came.
func (f *followTail) read(n int, d time.Duration) int {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for got := 0; ; got++ {
		if got == n {
			return got
		}
		select {
		case _, ok := <-f.out:
			if !ok {
				return got
			}
		case <-timer.C:
			return got
		}
	}
}

// interrupt sends SIGINT and expects a clean exit.
func (f *followTail) interrupt(t *testing.T) {
	t.Helper()
	if err := f.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range f.out {
	}
	if err := f.cmd.Wait(); err != nil {
		t.Errorf("tail -f after SIGINT: %v\n%s", err, f.stderr)
	}
}

// TestTailEmbedded: `processor tail` on the quickstart's embedded broker:
// before any run (a clear error), while the processor runs (it reads the
// processor's broker, starting none), after it stopped (it starts the
// broker on the data for the read and lets it go), and following, also
// from before a processor starts (which then does not wait for it).
func TestTailEmbedded(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	t.Cleanup(func() { _ = waitBrokerGone(stateDir) })
	bin, _, cfgPath := quickstartUnderTest(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	phase := func(what string) { t.Logf("%6s %s", time.Since(start).Round(100*time.Millisecond), what) }

	_, errOut, code := runTail(t, ctx, bin, "clicks-per-user", "--config", cfgPath)
	if code != exitFailed || !strings.Contains(errOut, "has not run with this configuration yet") {
		t.Errorf("tail before any run: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(stateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tail before any run created %s: %v", stateDir, err)
	}

	phase("before any run")
	// Running.
	p := startKillProc(t, ctx, bin, cfgPath)
	p.until("two checkpoints", func(r killLog) bool { return r.Msg == "checkpoint complete" })
	p.until("two checkpoints", func(r killLog) bool { return r.Msg == "checkpoint complete" })
	info, err := embedded.ReadInfo(filepath.Join(stateDir, "embedded-kafka"))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runTail(t, ctx, bin, "clicks-per-user", "--config", cfgPath, "-n", "5", "-v")
	if code != 0 || !strings.Contains(errOut, "reading the running processor's embedded broker at "+info.Address) {
		t.Errorf("tail while running: exit %d, stderr %q", code, errOut)
	}
	if ls := lines(out); len(ls) != 5 {
		t.Errorf("tail -n 5 -v printed %d lines: %q", len(ls), out)
	} else if f := strings.Split(ls[0], "\t"); len(f) != 5 || !strings.HasPrefix(f[3], "user-") {
		t.Errorf("tail -v line %q: want partition, offset, timestamp, key, value", ls[0])
	}
	if now, err := embedded.ReadInfo(filepath.Join(stateDir, "embedded-kafka")); err != nil || now.PID != info.PID {
		t.Errorf("the broker changed while tail read it: %+v, now %+v (%v)", info, now, err)
	}
	out, _, code = runTail(t, ctx, bin, "clicks-per-user", "--config", cfgPath, "--from-beginning", "--max", "7")
	if ls := lines(out); code != 0 || len(ls) != 7 || !strings.HasPrefix(ls[0], "user-") {
		t.Errorf("tail --from-beginning --max 7: exit %d, %q", code, out)
	}
	_, errOut, code = runTail(t, ctx, bin, "nope", "--config", cfgPath)
	if code != exitFailed || !strings.Contains(errOut, "topic nope does not exist (topics: clicks, clicks-dead-letters, clicks-per-user)") {
		t.Errorf("tail of an unknown topic: exit %d, %q", code, errOut)
	}
	phase("tails while running")
	f := startFollow(t, ctx, bin, "clicks-per-user", "--config", cfgPath)
	if n := f.read(10, 30*time.Second); n != 10 {
		t.Errorf("tail -f printed %d of the last 10 records", n)
	}
	if n := f.read(100, 30*time.Second); n != 100 {
		t.Errorf("tail -f printed %d new records, want 100 as checkpoints commit them", n)
	}
	f.interrupt(t)
	phase("follow while running")
	p.stop()
	if err := waitBrokerGone(stateDir); err != nil {
		t.Fatal(err)
	}

	phase("stopped")
	// Stopped: every count, once each, from the processor's data.
	out, errOut, code = runTail(t, ctx, bin, "clicks-per-user", "--config", cfgPath, "--from-beginning")
	if code != 0 || !strings.Contains(errOut, "no processor running: reading the embedded broker's data in") {
		t.Fatalf("tail of a stopped processor: exit %d, %q", code, errOut)
	}
	counts := map[string][]int{}
	for _, l := range lines(out) {
		k, v, _ := strings.Cut(l, "\t")
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("line %q: value is not a count", l)
		}
		counts[k] = append(counts[k], n)
	}
	total := 0
	for user, cs := range counts {
		seen := map[int]bool{}
		for _, c := range cs {
			seen[c] = true
		}
		for c := 1; c <= len(cs); c++ {
			if !seen[c] {
				t.Errorf("%s: counts %v are not 1..%d once each", user, cs, len(cs))
				break
			}
		}
		total += len(cs)
	}
	if len(counts) != 50 || total < 1000 {
		t.Errorf("tail of the stopped processor's output: %d users, %d counts", len(counts), total)
	}
	if err := waitBrokerGone(stateDir); err != nil {
		t.Fatal(err)
	}
	if info, err := embedded.ReadInfo(filepath.Join(stateDir, "embedded-kafka")); err != nil || info.State != embedded.StateStopped {
		t.Errorf("tail's broker did not stop cleanly: %+v, %v", info, err)
	}

	phase("tail of the stopped processor")
	// Following from before the processor starts.
	f = startFollow(t, ctx, bin, "clicks-per-user", "--config", cfgPath)
	if n := f.read(10, 30*time.Second); n != 10 {
		t.Errorf("tail -f of a stopped processor printed %d of the last 10 records", n)
	}
	// Once it printed them, it lets the data go for a processor.
	if err := waitBrokerGone(stateDir); err != nil {
		t.Fatalf("tail -f keeps the data of a stopped processor: %v", err)
	}
	p = startKillProc(t, ctx, bin, cfgPath)
	p.until("the pipeline", func(r killLog) bool { return r.Msg == "pipeline running" })
	if n := f.read(100, 30*time.Second); n != 100 {
		t.Errorf("tail -f printed %d records of the processor started after it, want 100", n)
	}
	f.interrupt(t)
	if !strings.Contains(f.stderr.String(), "following the processor's embedded broker at ") {
		t.Errorf("tail -f stderr: %q", f.stderr)
	}
	if n := p.count("waiting for the embedded broker of another process to stop"); n > 0 {
		t.Errorf("the processor waited for tail -f's broker")
	}
	p.stop()
	phase("follow from before a processor started")
}
