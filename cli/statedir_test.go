package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/statelock"
)

// TestSecondProcessorOnOneStateDirExits: two real processors with one
// state directory. The second exits 1 at once, naming the lock file and the
// first's pid, before it touches the directory; the first runs on and
// stops cleanly.
func TestSecondProcessorOnOneStateDirExits(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "processor")
	if out, err := exec.Command("go", "build", "-o", bin, processorPkg).CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data, err := os.ReadFile("../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("/tmp/tidemark-quickstart", dir, "listen: 127.0.0.1:8081", "listen: 127.0.0.1:0", "format: auto", "format: json").Replace(string(data))
	cfgPath := filepath.Join(dir, "quickstart.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	first := startQuickstart(t, ctx, bin, cfgPath)
	first.until("the pipeline", func(r logRecord) bool { return r.Msg == "pipeline running" })

	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "run", "--config", cfgPath).CombinedOutput()
	took := time.Since(start)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
		t.Fatalf("second processor: %v, want exit code %d\n%s", err, exitFailed, out)
	}
	if took > 10*time.Second {
		t.Errorf("second processor took %s to give up, want it at once", took)
	}
	lockFile := filepath.Join(dir, "state", statelock.FileName)
	for _, want := range []string{lockFile, fmt.Sprintf("in use by process %d", first.cmd.Process.Pid)} {
		if !strings.Contains(string(out), want) {
			t.Errorf("second processor's output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "embedded Kafka broker started") {
		t.Errorf("second processor started the embedded broker on the first one's data:\n%s", out)
	}
	t.Logf("second processor refused after %s", took.Round(time.Millisecond))
	first.stop()
}
