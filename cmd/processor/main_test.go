package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestValidateExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
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
	data, err := os.ReadFile("../../configs/quickstart.yaml")
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

// TestQuickstartBinary builds the processor, runs the quickstart
// configuration (directories moved to a temporary one), waits for a
// progress line that shows records written to the output topic, then sends
// SIGTERM and expects a clean exit.
func TestQuickstartBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "processor")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data, err := os.ReadFile("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(
		"/tmp/tidemark-quickstart", dir,
		"listen: 127.0.0.1:8081", "listen: 127.0.0.1:0",
		"format: auto", "format: json",
	).Replace(string(data))
	cfgPath := filepath.Join(dir, "quickstart.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sc := bufio.NewScanner(stderr)
	flowing := false
	for sc.Scan() {
		var rec struct {
			Msg        string `json:"msg"`
			RecordsOut int64  `json:"records_out"`
			SinkEnd    int64  `json:"clicks-out_end_offsets"`
		}
		line := sc.Bytes()
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec.Msg == "progress" && rec.RecordsOut > 0 && rec.SinkEnd >= rec.RecordsOut {
			flowing = true
			t.Logf("records flowing after %s: %s", time.Since(start).Round(time.Millisecond), line)
			break
		}
	}
	if !flowing {
		_ = cmd.Process.Kill()
		t.Fatalf("no progress line with records written (scan error %v)", sc.Err())
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("records took %s to flow, want under 30s", time.Since(start))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var tail []string
	for sc.Scan() {
		tail = append(tail, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(tail, "\n"))
	}
	if len(tail) == 0 || !strings.Contains(tail[len(tail)-1], `"msg":"stopped"`) {
		t.Errorf("last log lines do not say it stopped:\n%s", strings.Join(tail, "\n"))
	}
}
