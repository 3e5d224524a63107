package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tidemark/tidemark/internal/kafkabench"
)

// proc is a system's running instance: a child process.
type proc struct {
	sys     *system
	cmd     *exec.Cmd
	log     string // its standard output and error
	started time.Time

	readyOnce sync.Once
	readyAt   time.Time // written before ready closes
	ready     chan struct{}
	exited    chan struct{}
	waitErr   error // written before exited closes
	stopPoll  context.CancelFunc

	// Filled by kill: the child's rusage.
	cpu    time.Duration
	maxRSS int64
}

// launch starts an instance of s (see system.command) with its output in
// dir/<name>.log.
func (e *env) launch(s *system, id, in, out, dir string, restore bool) (*proc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args, readyURL, err := s.command(id, in, out, dir, restore)
	if err != nil {
		return nil, err
	}
	name := "run.log"
	if restore {
		name = "restart.log"
	}
	logPath := filepath.Join(dir, name)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &proc{sys: s, log: logPath, ready: make(chan struct{}), exited: make(chan struct{})}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Stdout = &lineWatcher{w: logf, line: readyLine, found: p.markReady}
	cmd.Stderr = logf
	// Its own process group (killed whole), and killed with peerbench.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.cmd = cmd
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	pctx, cancel := context.WithCancel(context.Background())
	p.stopPoll = cancel
	if readyURL != "" {
		go p.pollReady(pctx, readyURL)
	}
	return p, nil
}

func (p *proc) markReady() {
	p.readyOnce.Do(func() {
		p.readyAt = time.Now()
		close(p.ready)
	})
}

// pollReady marks p ready when url first answers 200.
func (p *proc) pollReady(ctx context.Context, url string) {
	cl := &http.Client{Timeout: time.Second}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		if resp, err := cl.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.markReady()
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.exited:
			return
		case <-t.C:
		}
	}
}

// awaitReady waits until p is ready, fails if it exits or ctx ends first.
func (p *proc) awaitReady(ctx context.Context) error {
	select {
	case <-p.ready:
		return nil
	case <-p.exited:
		return p.failure("exited before it was ready")
	case <-ctx.Done():
		return p.failure(fmt.Sprintf("not ready: %v", ctx.Err()))
	}
}

// failure describes p's failure with the end of its log.
func (p *proc) failure(what string) error {
	if p.waitErr != nil {
		what += " (" + p.waitErr.Error() + ")"
	}
	return fmt.Errorf("%s %s; the end of its log %s:\n%s", p.sys.name, what, p.log, tail(p.log, 30))
}

// sample is p's CPU time and peak RSS now.
func (p *proc) sample() (cpu time.Duration, peakRSS int64) {
	cpu, _ = kafkabench.ProcCPU(p.cmd.Process.Pid)
	_, peakRSS, _ = kafkabench.ProcRSS(p.cmd.Process.Pid)
	return cpu, peakRSS
}

// terminate SIGTERMs p (its main process only) and waits up to 30 s for it
// to exit; kill then collects its rusage (or kills it if it did not exit).
func (p *proc) terminate() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		progress("warning: %s (pid %d) still running 30s after SIGTERM", p.sys.name, p.cmd.Process.Pid)
	}
}

// kill SIGKILLs p's process group, waits for it, and fills cpu and maxRSS
// from its rusage. Idempotent.
func (p *proc) kill() {
	p.stopPoll()
	select {
	case <-p.exited:
	default:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			progress("warning: %s (pid %d) still running 30s after SIGKILL", p.sys.name, p.cmd.Process.Pid)
			return
		}
	}
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		p.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		p.maxRSS = ru.Maxrss << 10
	}
}

// lineWatcher copies to w and calls found once a line starting with line
// has gone by.
type lineWatcher struct {
	w     *os.File
	line  string
	found func()
	buf   []byte
	seen  bool
}

func (l *lineWatcher) Write(b []byte) (int, error) {
	if !l.seen {
		l.buf = append(l.buf, b...)
		for {
			i := bytes.IndexByte(l.buf, '\n')
			if i < 0 {
				break
			}
			if strings.HasPrefix(string(l.buf[:i]), l.line) {
				l.seen = true
				l.found()
				l.buf = nil
				break
			}
			l.buf = l.buf[i+1:]
		}
	}
	return l.w.Write(b)
}

// tail is the last n lines of file path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dirSize is the size of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}
