package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestValidateExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, f := range files {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"validate", "--config", f}, &out, &errOut); code != exitOK {
			t.Errorf("validate %s: exit %d: %s", f, code, errOut.String())
		}
		if !strings.Contains(out.String(), "valid") {
			t.Errorf("validate %s printed %q", f, out.String())
		}
	}
}

func TestValidateMisspelledKey(t *testing.T) {
	data, err := os.ReadFile("../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, bytes.Replace(data, []byte("  interval:"), []byte("  intervall:"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"validate", "--config", bad}, &out, &errOut); code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	if msg := errOut.String(); !strings.Contains(msg, "checkpoint.intervall: unknown key") || !strings.Contains(msg, "line ") {
		t.Errorf("error does not name the key and line: %q", msg)
	}
}

func TestUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"validate", "--bogus"}, &out, &errOut); code != exitUsage {
		t.Errorf("unknown flag: exit %d, want %d", code, exitUsage)
	}
	if code := run(context.Background(), []string{"validate", "--config", "/does/not/exist.yaml"}, &out, &errOut); code != exitFailed {
		t.Errorf("missing file: exit %d", code)
	}
	out.Reset()
	if code := run(context.Background(), []string{"version"}, &out, &errOut); code != exitOK || !strings.HasPrefix(out.String(), "processor ") {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
}

// quickstartProcess is the processor binary running a copy of the
// quickstart configuration, its JSON log read line by line.
type quickstartProcess struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines *bufio.Scanner
	log   []string
}

// logRecord is the part of a log line the tests look at.
type logRecord struct {
	Msg         string `json:"msg"`
	RecordsOut  int64  `json:"records_out"`
	SinkEnd     int64  `json:"sink_log_end_offsets"`
	Checkpoints int64  `json:"checkpoints_completed"`
	Checkpoint  int64  `json:"checkpoint"`
	Address     string `json:"address"`
}

func startQuickstart(t *testing.T, ctx context.Context, bin, cfgPath string) *quickstartProcess {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &quickstartProcess{t: t, cmd: cmd, lines: bufio.NewScanner(stderr)}
}

// until reads log lines until match accepts one, and returns it.
func (p *quickstartProcess) until(what string, match func(logRecord) bool) logRecord {
	p.t.Helper()
	for p.lines.Scan() {
		line := p.lines.Text()
		p.log = append(p.log, line)
		var rec logRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			p.t.Fatalf("log line is not JSON: %q", line)
		}
		if match(rec) {
			return rec
		}
	}
	_ = p.cmd.Process.Kill()
	p.t.Fatalf("log ended before %s (scan error %v):\n%s", what, p.lines.Err(), strings.Join(p.log, "\n"))
	return logRecord{}
}

// stop sends SIGTERM and expects a clean exit.
func (p *quickstartProcess) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	p.until("the final checkpoint", func(r logRecord) bool { return r.Msg == "final checkpoint complete and committed" })
	p.until("the stop", func(r logRecord) bool { return r.Msg == "stopped" })
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(p.log, "\n"))
	}
}

// TestQuickstartBinary builds the processor and runs the quickstart
// configuration (directories moved to a temporary one): records must flow
// to the output topic within 30 s and checkpoints complete; SIGTERM stops
// it cleanly after a final checkpoint; a second run restores from it and
// says so; the HTTP API reports checkpoints and takes a savepoint.
func TestQuickstartBinary(t *testing.T) {
	dir := t.TempDir()
	t.Cleanup(func() { _ = waitBrokerGone(filepath.Join(dir, "state")) })
	bin := filepath.Join(dir, "processor")
	build := exec.Command("go", "build", "-o", bin, processorPkg)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data, err := os.ReadFile("../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(
		"/tmp/tidemark-quickstart", dir,
		"listen: 127.0.0.1:8081", "listen: 127.0.0.1:0", "embedded_listen: 127.0.0.1:9192", "embedded_listen: 127.0.0.1:0",
		"format: auto", "format: json",
		"interval: 5s", "interval: 1s",
	).Replace(string(data))
	cfgPath := filepath.Join(dir, "quickstart.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	p := startQuickstart(t, ctx, bin, cfgPath)
	start := time.Now()
	p.until("a fresh start", func(r logRecord) bool { return r.Msg == "no checkpoint to restore: starting fresh" })
	rec := p.until("records flowing", func(r logRecord) bool {
		return r.Msg == "progress" && r.RecordsOut > 0 && r.SinkEnd >= r.RecordsOut && r.Checkpoints > 0
	})
	t.Logf("records flowing after %s: %d written, %d checkpoints", time.Since(start).Round(time.Millisecond), rec.RecordsOut, rec.Checkpoints)
	if time.Since(start) > 30*time.Second {
		t.Errorf("records took %s to flow, want under 30s", time.Since(start))
	}
	p.stop()

	p = startQuickstart(t, ctx, bin, cfgPath)
	addr := p.until("the HTTP server", func(r logRecord) bool { return r.Msg == "http server listening" }).Address
	restored := p.until("the restore", func(r logRecord) bool { return r.Msg == "restoring from checkpoint" })
	p.until("a checkpoint", func(r logRecord) bool { return r.Msg == "checkpoint complete" && r.Checkpoint > restored.Checkpoint })
	t.Logf("second run restored checkpoint %d", restored.Checkpoint)

	resp, err := http.Get("http://" + addr + "/api/v1/checkpoints")
	if err != nil {
		t.Fatal(err)
	}
	var ck struct {
		Counts struct{ Completed int64 }
		Latest *struct {
			ID     int64
			Status string
		} `json:"latest_completed"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ck)
	resp.Body.Close()
	if err != nil || ck.Counts.Completed == 0 || ck.Latest == nil || ck.Latest.Status != "completed" || ck.Latest.ID <= restored.Checkpoint {
		t.Errorf("/api/v1/checkpoints: %+v, %v", ck, err)
	}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"savepoint", "--config", cfgPath, "--address", addr, "--name", "sp1"}, &out, &errOut); code != exitOK {
		t.Errorf("savepoint: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "savepoints/sp1/") {
		t.Errorf("savepoint printed %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints", "quickstart", "savepoints", "sp1", "_metadata")); err != nil {
		t.Errorf("savepoint metadata: %v", err)
	}
	p.stop()
}

// TestSecondSIGINTExitsAtOnce: the first SIGINT starts a clean stop, a
// second one exits at once with 130.
func TestSecondSIGINTExitsAtOnce(t *testing.T) {
	dir := t.TempDir()
	// The embedded broker process saves its data after the processor
	// exited: let it finish before the directory goes.
	t.Cleanup(func() { _ = waitBrokerGone(filepath.Join(dir, "state")) })
	bin := filepath.Join(dir, "processor")
	if out, err := exec.Command("go", "build", "-o", bin, processorPkg).CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data, err := os.ReadFile("../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("/tmp/tidemark-quickstart", dir, "listen: 127.0.0.1:8081", "listen: 127.0.0.1:0", "embedded_listen: 127.0.0.1:9192", "embedded_listen: 127.0.0.1:0", "format: auto", "format: json").Replace(string(data))
	cfgPath := filepath.Join(dir, "quickstart.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Signals do not queue: the second SIGINT is sent once the first one
	// was seen. A clean stop can beat it; then the run is tried again.
	for attempt := 1; attempt <= 5; attempt++ {
		p := startQuickstart(t, ctx, bin, cfgPath)
		p.until("the pipeline", func(r logRecord) bool { return r.Msg == "pipeline running" })
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		p.until("the first SIGINT", func(r logRecord) bool { return strings.HasPrefix(r.Msg, "signal received") })
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		second := false
		for p.lines.Scan() {
			second = second || strings.Contains(p.lines.Text(), "second SIGINT: exiting at once")
		}
		err := p.cmd.Wait()
		if !second {
			t.Logf("attempt %d: the clean stop finished first (%v)", attempt, err)
			continue
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("exit after a second SIGINT = %v, want code 130", err)
		}
		return
	}
	t.Fatal("the second SIGINT never arrived before the clean stop finished")
}
