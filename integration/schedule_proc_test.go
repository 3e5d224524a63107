package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// One run of the processor binary in the schedule test, with its log kept
// in memory (to wait for lines) and in a file.

// fate is what the harness did to a process, which decides what its exit
// must look like.
type fate string

const (
	fateNone   fate = ""       // nothing: it should still run (an exit is its own)
	fateKilled fate = "killed" // SIGKILL
	fateTerm   fate = "term"   // SIGTERM, or savepoint --stop: must exit 0
	fateZombie fate = "zombie" // lost the job to a newer instance: must exit non-zero naming it
)

type proc struct {
	id       int // run number over the whole schedule
	job      int
	instance string
	args     []string
	crash    string // TIDEMARK_CRASHPOINT
	cfgPath  string
	fromArg  string // its --from
	// fromRepeat: a start with the same --from as a start before it that
	// ran (a container restarted with the same arguments).
	fromRepeat bool
	logPath    string
	started    time.Time
	cmd        *exec.Cmd

	mu     sync.Mutex
	lines  []string
	fate   fate
	paused bool
	judged bool

	done  chan struct{} // closed once it exited and its output is read
	state *os.ProcessState
}

// startProc starts bin with args and env, logging to logPath.
func startProc(bin string, args, env []string, logPath string) (*proc, error) {
	p := &proc{args: args, logPath: logPath, done: make(chan struct{}), started: time.Now()}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "# %s %s\n", bin, strings.Join(args, " "))
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close()
	go func() {
		defer close(p.done)
		defer logf.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
		}
		pr.Close()
		_ = p.cmd.Wait()
		p.mu.Lock()
		p.state = p.cmd.ProcessState
		p.mu.Unlock()
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) String() string {
	return fmt.Sprintf("run %d (job %s, instance %s, pid %d)", p.id, jobNames[p.job], p.instance, p.pid())
}

// nLines is how many lines it logged so far.
func (p *proc) nLines() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// linesFrom returns its log lines from index i on.
func (p *proc) linesFrom(i int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i > len(p.lines) {
		return nil
	}
	return append([]string(nil), p.lines[i:]...)
}

// find returns the last line from index i on containing every one of subs.
func (p *proc) find(i int, subs ...string) (string, bool) {
	ls := p.linesFrom(i)
	for k := len(ls) - 1; k >= 0; k-- {
		if containsAll(ls[k], subs) {
			return ls[k], true
		}
	}
	return "", false
}

// count counts lines containing every one of subs.
func (p *proc) count(subs ...string) int {
	n := 0
	for _, l := range p.linesFrom(0) {
		if containsAll(l, subs) {
			n++
		}
	}
	return n
}

func containsAll(l string, subs []string) bool {
	for _, s := range subs {
		if !strings.Contains(l, s) {
			return false
		}
	}
	return true
}

// waitLine polls until a line from index i on contains every one of subs,
// the process exits without one, or d passes.
func (p *proc) waitLine(ctx context.Context, d time.Duration, i int, subs ...string) (string, bool) {
	deadline := time.Now().Add(d)
	for {
		if l, ok := p.find(i, subs...); ok {
			return l, true
		}
		if !p.alive() {
			return p.find(i, subs...)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", false
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// waitExit waits up to d for the process to exit.
func (p *proc) waitExit(ctx context.Context, d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	case <-ctx.Done():
		return false
	}
}

func (p *proc) signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
}

// kill SIGKILLs the process (SIGCONT first if paused) and waits for it.
func (p *proc) kill() {
	p.setFate(fateKilled)
	p.signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) setFate(f fate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fate == fateNone || f == fateKilled && p.fate != fateTerm {
		p.fate = f
	}
}

func (p *proc) getFate() fate {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fate
}

// exit describes how it ended: "exit N" or "signal: killed".
func (p *proc) exit() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil {
		return "running"
	}
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal: " + ws.Signal().String()
	}
	return fmt.Sprintf("exit %d", p.state.ExitCode())
}

func (p *proc) exitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil {
		return -1
	}
	return p.state.ExitCode()
}

// crashed reports whether an armed crash point killed it.
func (p *proc) crashed() bool {
	_, ok := p.find(0, "crash point reached")
	return ok && p.exit() == "signal: "+syscall.SIGKILL.String()
}

// lastError is its last error line (or "processor: ..." line).
func (p *proc) lastError() string {
	ls := p.linesFrom(0)
	for k := len(ls) - 1; k >= 0; k-- {
		if strings.HasPrefix(ls[k], "processor: ") || strings.Contains(ls[k], `"level":"error"`) {
			return ls[k]
		}
	}
	if len(ls) > 0 {
		return ls[len(ls)-1]
	}
	return "(no output)"
}

// leaseGen is the lease generation it took last (0: none).
func (p *proc) leaseGen() int64 {
	l, ok := p.find(0, `"msg":"job lease taken"`)
	if !ok {
		return 0
	}
	return int64(field(l, "generation"))
}

// warnings are its warn and error lines.
func (p *proc) warnings() []string {
	var out []string
	for _, l := range p.linesFrom(0) {
		if strings.Contains(l, `"level":"warn"`) || strings.Contains(l, `"level":"error"`) || strings.HasPrefix(l, "processor: ") ||
			strings.HasPrefix(l, "panic") || strings.HasPrefix(l, "fatal") {
			out = append(out, l)
		}
	}
	return out
}

// field returns a numeric field of a JSON log line (0 if absent).
func field(line, name string) float64 {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return 0
	}
	f, _ := m[name].(float64)
	return f
}

// strField returns a string field of a JSON log line.
func strField(line, name string) string {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return ""
	}
	s, _ := m[name].(string)
	return s
}

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv is the environment for the processor: the test's, without a
// crash point of its own, with the S3 credentials.
func cleanEnv(accessKey, secretKey, crash string) []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "TIDEMARK_CRASHPOINT=") || strings.HasPrefix(e, "AWS_") {
			continue
		}
		env = append(env, e)
	}
	env = append(env, "AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secretKey)
	if crash != "" {
		env = append(env, "TIDEMARK_CRASHPOINT="+crash)
	}
	return env
}

// runCmd runs the processor binary to completion (savepoint, validate),
// bounded by d, and returns its combined output.
func runCmd(ctx context.Context, d time.Duration, bin string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%w (no answer within %v)", err, d)
	}
	return strings.TrimSpace(string(out)), err
}

func logName(dir string, id int, job int, inst string) string {
	return filepath.Join(dir, fmt.Sprintf("run-%03d-%s-%s.log", id, jobNames[job], inst))
}
