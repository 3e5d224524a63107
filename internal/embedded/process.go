package embedded

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Why a child process: kfake saves its state whole only when it is closed.
// A broker killed with its processor (SIGKILL) leaves its data to kfake's
// crash recovery, which loses transaction state (see Repair). In a child
// process the broker outlives a killed parent just long enough to close
// cleanly: it stops when its stdin reaches EOF, which happens however the
// parent ends, so it never lingers.

// Serve flags: the command that runs Serve (the processor's hidden
// embedded-broker command) must accept these.
const (
	FlagDataDir = "data-dir"
	FlagListen  = "listen"
	FlagNoWait  = "no-wait"
)

// Lines Serve writes on its stdout for Spawn.
const (
	readyPrefix = "listening "
	busyLine    = "busy"
)

// LockWait bounds how long Serve waits for the data dir's lock when asked
// to wait: a broker killed with its parent needs a moment to save.
const LockWait = 2 * time.Minute

// Serve runs a broker for a parent process (see Spawn): it takes the data
// dir's lock, waiting up to LockWait while another broker holds it (unless
// noWait: then it writes "busy" to out and returns ErrLocked), starts the
// broker, writes "listening ADDR" to out, and serves until in reaches EOF
// or ctx is done; then it closes the broker cleanly. The caller should
// ignore SIGINT, SIGTERM, SIGHUP and SIGPIPE: the parent handles signals,
// and the broker must outlive it long enough to save its data.
func Serve(ctx context.Context, o Options, noWait bool, in io.Reader, out io.Writer) error {
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	// This process only runs the broker: everything it creates is
	// private to its user (0700 directories, 0600 files).
	privateUmask()
	// EOF on in (the parent closed it, or died) ends every step.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends at EOF or a read error: both mean the parent is gone
		_, _ = io.Copy(io.Discard, in)
		cancel()
	}()
	var lock *Lock
	if o.DataDir != "" {
		var err error
		lock, err = waitLock(ctx, o.DataDir, !noWait, log)
		if errors.Is(err, ErrLocked) && noWait {
			_, werr := fmt.Fprintln(out, busyLine)
			return errors.Join(err, werr)
		}
		if err != nil {
			return err
		}
	}
	b, err := start(ctx, o, lock)
	if err != nil {
		if lock != nil {
			_ = lock.Unlock()
		}
		return err
	}
	if _, err := fmt.Fprintln(out, readyPrefix+strings.Join(b.Addrs(), ",")); err != nil {
		return errors.Join(fmt.Errorf("embedded broker: tell the parent: %w", err), b.Close())
	}
	<-ctx.Done()
	if err := b.Close(); err != nil {
		return err
	}
	log.Info("embedded broker stopped, data saved", zap.String("data_dir", o.DataDir))
	return nil
}

func waitLock(ctx context.Context, dataDir string, wait bool, log *zap.Logger) (*Lock, error) {
	deadline := time.Now().Add(LockWait)
	var lastLog time.Time
	for {
		lock, err := TryLock(dataDir)
		if !errors.Is(err, ErrLocked) || !wait {
			return lock, err
		}
		info, _ := ReadInfo(dataDir)
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s is still held by pid %d after %s: stop that process (a processor or `processor tail` on the same state.dir)", err, LockPath(dataDir), info.PID, LockWait)
		}
		if time.Since(lastLog) > 5*time.Second {
			log.Info("waiting for the embedded broker of another process to stop", zap.Int("pid", info.PID), zap.String("lock", LockPath(dataDir)))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Process is a broker running in a child process started by Spawn.
type Process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs []string

	done    chan struct{} // closed once the child exited
	err     error         // its exit status, set before done closes
	lastErr string        // its last error log line, set before done closes
	once    sync.Once
}

var _ Running = (*Process)(nil)

// Spawn starts a broker in a child process: command (the program and its
// arguments, e.g. the processor binary and "embedded-broker") followed by
// the Serve flags for o and wait. It returns once the broker listens. The
// child's log lines (JSON, one per line) are logged to o.Log. With wait
// false and the data dir locked by another broker it returns ErrLocked.
func Spawn(ctx context.Context, command []string, o Options, wait bool) (*Process, error) {
	if len(command) == 0 {
		return nil, errors.New("embedded: no command to start the broker process")
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	args := append(command[1:len(command):len(command)], "--"+FlagDataDir, o.DataDir, "--"+FlagListen, o.Listen)
	if !wait {
		args = append(args, "--"+FlagNoWait)
	}
	// Not CommandContext: cancelling ctx must not SIGKILL the broker
	// (that is what the child is there to survive); Close ends it.
	cmd := exec.Command(command[0], args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("embedded: broker process: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("embedded: broker process: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("embedded: broker process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("embedded: start broker process %s: %w", command[0], err)
	}
	p := &Process{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	first := make(chan string, 1)
	var relay sync.WaitGroup
	relay.Add(2)
	go func() { // owned by p: ends when the child closes stderr (exits)
		defer relay.Done()
		p.lastErr = relayLog(stderr, log)
	}()
	go func() { // owned by p: ends when the child closes stdout (exits)
		defer relay.Done()
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		first <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, r)
	}()
	go func() {
		relay.Wait() // Wait must follow the last read from its pipes
		p.err = cmd.Wait()
		close(p.done)
	}()
	var line string
	select {
	case line = <-first:
	case <-ctx.Done():
		return nil, errors.Join(ctx.Err(), p.Close())
	}
	switch {
	case strings.HasPrefix(line, readyPrefix):
		p.addrs = strings.Split(strings.TrimPrefix(line, readyPrefix), ",")
		return p, nil
	case line == busyLine:
		<-p.done
		info, _ := ReadInfo(o.DataDir)
		return nil, fmt.Errorf("%w: held by pid %d", ErrLocked, info.PID)
	default:
		<-p.done
		if p.lastErr != "" {
			return nil, fmt.Errorf("embedded: broker process failed to start (%v): %s", p.err, p.lastErr)
		}
		return nil, fmt.Errorf("embedded: broker process failed to start (%v); see its log lines above", p.err)
	}
}

// Addrs implements Running.
func (p *Process) Addrs() []string { return p.addrs }

// Done implements Running: it is closed once the child exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err says how the child exited, once Done is closed.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Close implements Running: it closes the child's stdin, which makes it
// save its data and exit, and waits for that (killing it after a minute).
func (p *Process) Close() error {
	p.once.Do(func() {
		_ = p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(time.Minute):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	if p.err != nil {
		return fmt.Errorf("embedded: broker process: %w", p.err)
	}
	return nil
}

// relayLog logs each JSON log line of the child at its level, with its
// fields; other lines (its exit error, a panic) as errors. It returns the
// last of those other lines.
func relayLog(r io.Reader, log *zap.Logger) (lastErr string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			lastErr = sc.Text()
			log.Error(lastErr)
			continue
		}
		msg, _ := m["msg"].(string)
		lvl, _ := m["level"].(string)
		level, err := zapcore.ParseLevel(lvl)
		if err != nil {
			level = zapcore.InfoLevel
		}
		delete(m, "msg")
		delete(m, "level")
		delete(m, "ts")
		delete(m, "logger")
		fields := make([]zap.Field, 0, len(m))
		for k, v := range m {
			fields = append(fields, zap.Any(k, v))
		}
		if ce := log.Check(level, msg); ce != nil {
			ce.Write(fields...)
		}
	}
	return lastErr
}
