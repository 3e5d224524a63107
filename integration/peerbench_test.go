package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/integration/testenv"
)

// TestPeerbenchTiny runs cmd/peerbench (make bench-peers's harness) small
// on the real broker, with the two systems that need no Maven build: the
// raw franz-go pipe and Tidemark's processor binary, each as its own
// process. Every phase runs (throughput, latency, recovery after SIGKILL);
// peerbench checks every output per key and exits non-zero on any
// mismatch, so a green run means both systems' outputs were exactly
// right, and its tables and charts came out.
func TestPeerbenchTiny(t *testing.T) {
	k := testenv.Kafka(t)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	bin := filepath.Join(t.TempDir(), "peerbench")
	build := exec.Command("go", "build", "-o", bin, "./cmd/peerbench")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/peerbench: %v\n%s", err, out)
	}
	charts := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-brokers", strings.Join(k.Brokers, ","),
		"-records", "50000", "-systems", "raw,tidemark", "-rounds", "1",
		"-latency-duration", "4s", "-latency-warmup", "1s",
		"-recovery-state", "4MiB", "-recovery-probes", "200",
		"-processor", processorBinary(t), "-dir", t.TempDir(), "-charts", charts, "-markdown")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		t.Fatalf("peerbench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"Every run's committed output was checked",
		"| raw | raw franz-go pipe",
		"| tidemark | Tidemark",
		"End-to-end latency",
		"Recovery after SIGKILL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("peerbench's output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(stderr.String(), "(output checked)"); n != 6 {
		t.Errorf("%d runs' outputs checked, want 6 (2 throughput, 2 latency, 2 recovery):\n%s", n, stderr.String())
	}
	for _, name := range []string{"peers-throughput.png", "peers-cpu.png", "peers-rss.png", "peers-startup.png", "peers-latency.png", "peers-recovery.png"} {
		b, err := os.ReadFile(filepath.Join(charts, name))
		if err != nil {
			t.Errorf("chart: %v", err)
			continue
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 1000 {
			t.Errorf("chart %s: not a PNG (%d bytes)", name, len(b))
		}
	}
}
