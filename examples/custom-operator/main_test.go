package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/plugin"
)

// buildExample builds this program into a temporary directory.
func buildExample(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "custom-operator")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBin runs the program and returns its exit code, stdout and stderr.
func runBin(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	}
	t.Fatalf("%v: %v", args, err)
	return 0, "", ""
}

// TestBinary builds the program and uses its operators from YAML: validate
// plans config.yaml with them (running_max keyed by its key expression
// behind a key exchange, redact chained after it), reports a mistake in
// one of their keys with its line, docs operators documents them beside
// the built-ins, and run accepts them (it plans the job with the same
// environment) and then stops at what this build cannot run yet: the
// graph form needs the multi-stage runtime.
func TestBinary(t *testing.T) {
	bin := buildExample(t)

	code, out, errOut := runBin(t, bin, "validate", "--config", "config.yaml")
	if code != 0 {
		t.Fatalf("validate config.yaml: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		`config.yaml: valid (job "custom-operator", exactly_once, 1 sources, 2 operators, 1 sinks, dead letters to clicks-dead-letters)`,
		"stage latest (keyed, 2 tasks, stateful, sink)\n" +
			"  latest running_max append ← clicks hash(value.user)\n" +
			"  masked redact append ← latest chain\n" +
			"  out sink topic=clicks-latest append ← masked chain\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate printed\n%s\nwithout %q", out, want)
		}
	}

	data, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, bytes.Replace(data, []byte("    value: value.seq\n"), []byte("    valeu: value.seq\n"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runBin(t, bin, "validate", "--config", bad)
	for _, want := range []string{
		"line 27: operators[0] (latest).valeu: unknown key (did you mean \"value\"?)",
		"operators[0] (latest).value: is required",
	} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("validate of a misspelled key: exit %d, %q; want 1 and %q", code, errOut, want)
		}
	}

	code, out, errOut = runBin(t, bin, "docs", "operators")
	env := plugin.NewEnvironment()
	if err := register(env); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"running_max", "redact"} {
		spec, _, _ := env.Lookup(name)
		if want := spec.Markdown(name); code != 0 || !strings.Contains(out, want) {
			t.Errorf("docs operators: exit %d, %s; want the reference of %s:\n%s", code, errOut, name, want)
		}
	}
	if !strings.Contains(out, "### `count`\n") {
		t.Errorf("docs operators lacks the built-in count:\n%s", out)
	}

}

// TestBinaryRunsAJob: the program is the whole processor, not only a
// validator: it runs config.yaml (a job graph of its own operators and a
// built-in one) on the embedded broker, which it starts as a child
// process of itself (the hidden command of package cli), takes
// checkpoints, and stops cleanly on SIGTERM after a final checkpoint.
func TestBinaryRunsAJob(t *testing.T) {
	bin := buildExample(t)
	dir := t.TempDir()
	t.Cleanup(func() {
		if err := waitBrokerGone(filepath.Join(dir, "state")); err != nil {
			t.Error(err)
		}
	})
	data, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("/tmp/tidemark-custom-operator", dir,
		"embedded_listen: 127.0.0.1:9193", "embedded_listen: 127.0.0.1:0", "format: auto", "format: json",
		"interval: 5s", "interval: 1s").Replace(string(data)) + "\nhttp: {listen: \"127.0.0.1:0\"}\n"
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	var log []string
	until := func(what string, match func(msg string, checkpoint int64) bool) {
		t.Helper()
		for lines.Scan() {
			log = append(log, lines.Text())
			var rec struct {
				Msg        string `json:"msg"`
				Checkpoint int64  `json:"checkpoint"`
			}
			if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
				t.Fatalf("log line is not JSON: %q", lines.Text())
			}
			if match(rec.Msg, rec.Checkpoint) {
				return
			}
		}
		_ = cmd.Process.Kill()
		t.Fatalf("log ended before %s:\n%s", what, strings.Join(log, "\n"))
	}
	until("the embedded broker", func(msg string, _ int64) bool { return strings.HasPrefix(msg, "embedded Kafka broker started") })
	until("a checkpoint", func(msg string, id int64) bool { return msg == "checkpoint complete" && id >= 1 })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	until("the final checkpoint", func(msg string, _ int64) bool { return msg == "final checkpoint complete and committed" })
	until("the stop", func(msg string, _ int64) bool { return msg == "stopped" })
	for lines.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(log, "\n"))
	}
}

// waitBrokerGone waits up to 30 s until the embedded broker of the
// stopped run has saved its data and released it.
func waitBrokerGone(stateDir string) error {
	dataDir := filepath.Join(stateDir, "embedded-kafka")
	deadline := time.Now().Add(30 * time.Second)
	for {
		lock, err := embedded.TryLock(dataDir)
		if err == nil {
			return lock.Unlock()
		}
		if !errors.Is(err, embedded.ErrLocked) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the embedded broker still holds %s 30 s after the run ended", dataDir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
