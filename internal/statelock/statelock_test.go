package statelock_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/statelock"
)

// helperEnv makes the test binary a helper process that locks the
// directory it names, prints "locked" (or the error) and holds the lock
// until its stdin closes.
const helperEnv = "STATELOCK_TEST_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		l, err := statelock.Acquire(dir)
		if err != nil {
			fmt.Println(err)
			os.Exit(3)
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper is a process of the test binary holding (or failing to take) the
// lock on a directory.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startHelper(t *testing.T, dir string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &helper{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
}

// line is the helper's first line of output.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	if !h.out.Scan() {
		t.Fatalf("helper printed nothing: %v", h.out.Err())
	}
	return h.out.Text()
}

// TestSecondProcessIsRefused: two real processes on one directory; the
// second is refused with a message naming the lock file and the first's
// pid, and may lock it once the first is gone, whether it released the
// lock or was killed.
func TestSecondProcessIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first := startHelper(t, dir)
	if got := first.line(t); got != "locked" {
		t.Fatalf("first helper: %s", got)
	}
	second := startHelper(t, dir)
	msg := second.line(t)
	err := second.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("second helper exited with %v, want code 3 (refused)", err)
	}
	lockFile := filepath.Join(dir, statelock.FileName)
	host, _ := os.Hostname()
	for _, want := range []string{lockFile, fmt.Sprintf("process %d", first.cmd.Process.Pid), "on host " + host, "started ", "own state.dir"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not say %q", msg, want)
		}
	}

	// In this process too, while the first holds it.
	_, err = statelock.Acquire(dir)
	var he *statelock.HeldError
	if !errors.As(err, &he) || !errors.Is(err, statelock.ErrHeld) || he.Holder.PID != first.cmd.Process.Pid || he.Path != lockFile {
		t.Fatalf("Acquire while held: %v", err)
	}

	// A killed holder leaves no stale lock.
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	l, err := statelock.Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	if _, err := statelock.Acquire(dir); !errors.Is(err, statelock.ErrHeld) {
		t.Errorf("second Acquire in one process: %v, want ErrHeld", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}

	// A released lock can be taken by another process.
	third := startHelper(t, dir)
	if got := third.line(t); got != "locked" {
		t.Fatalf("after release: %s", got)
	}
	third.stdin.Close()
	if err := third.cmd.Wait(); err != nil {
		t.Fatalf("third helper: %v", err)
	}
}

func TestHolderUnknownSaysSo(t *testing.T) {
	e := &statelock.HeldError{Dir: "/s", Path: "/s/" + statelock.FileName}
	if msg := e.Error(); !strings.Contains(msg, "has not written its pid yet") || !strings.Contains(msg, "/s/tidemark.lock") {
		t.Errorf("message %q", msg)
	}
	e.Holder = statelock.Holder{PID: 7, Host: "h", Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	if msg := e.Error(); !strings.Contains(msg, "process 7 on host h, started 2025-01-02T03:04:05Z") {
		t.Errorf("message %q", msg)
	}
}
