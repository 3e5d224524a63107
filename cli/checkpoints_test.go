package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/ckptfixture"
)

// ckptRun runs `processor checkpoints ARGS` and returns its exit code,
// stdout and stderr.
func ckptRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"checkpoints"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// fixtureStore writes checkpoints of the fixture job into a file store and
// returns its URI and metadata.
func fixtureStore(t *testing.T, n int) (string, []*checkpoint.Metadata) {
	t.Helper()
	dir := t.TempDir()
	st, err := storage.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	return "file://" + dir, ckptfixture.Write(t, st, ckptfixture.Options{Checkpoints: n})
}

// The checkpoint commands on a file store with no processor running: list
// marks the checkpoint a start restores, inspect shows offsets, operators
// and files, verify passes (exit 0) with keys per operator, gc --dry-run
// lists what retention deletes and deletes nothing, export copies a
// checkpoint that verify then passes, progress shows only when asked for.
func TestCheckpointsCommands(t *testing.T) {
	uri, _ := fixtureStore(t, 4)
	where := []string{"--storage", uri, "--job", ckptfixture.Name}

	code, out, errOut := ckptRun(t, append([]string{"list"}, where...)...)
	if code != exitOK || !strings.Contains(out, "4 *") || !strings.Contains(out, "a start restores checkpoint 4") || errOut != "" {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = ckptRun(t, append([]string{"list", "--json"}, where...)...)
	var l struct {
		Checkpoints []struct {
			Name  string `json:"name"`
			Valid bool   `json:"valid"`
		} `json:"checkpoints"`
		Restore string `json:"restore"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &l) != nil || len(l.Checkpoints) != 4 || l.Restore != "4" {
		t.Fatalf("list --json: exit %d: %s", code, out)
	}

	code, out, _ = ckptRun(t, append([]string{"inspect", "2"}, where...)...)
	for _, want := range []string{"checkpoint 2 of job fixture", "operator name=count-0 type=count", "clicks  0", "keyed-1, key groups [8,16)", "shared/", "pending transactions (committed once it completes): 0"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("inspect 2: exit %d, no %q in:\n%s", code, want, out)
		}
	}

	code, out, errOut = ckptRun(t, append([]string{"verify"}, where...)...)
	if code != exitOK || !strings.Contains(out, "recovery drill of 4") || !strings.Contains(out, "count-0") || !strings.HasSuffix(out, "PASS\n") || errOut != "" {
		t.Errorf("verify: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = ckptRun(t, append([]string{"verify", "3", "--progress", "always"}, where...)...)
	if code != exitOK || !strings.Contains(errOut, "\r") || !strings.Contains(errOut, "verifying 3: keyed-0") {
		t.Errorf("verify --progress always: exit %d, stderr %q", code, errOut)
	}

	code, out, _ = ckptRun(t, append([]string{"gc", "--dry-run", "--retained", "2"}, where...)...)
	if code != exitOK || !strings.Contains(out, "expired checkpoints: 1, 2") || !strings.Contains(out, "would delete") {
		t.Errorf("gc --dry-run: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(strings.TrimPrefix(uri, "file://"), ckptfixture.Name, checkpoint.MetadataKey(1))); err != nil {
		t.Errorf("gc --dry-run deleted: %v", err)
	}

	dest := t.TempDir()
	code, out, _ = ckptRun(t, append([]string{"export", "3", "--to", dest}, where...)...)
	if code != exitOK || !strings.Contains(out, "--from savepoints/checkpoint-3") {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	code, out, _ = ckptRun(t, "verify", "savepoints/checkpoint-3", "--storage", "file://"+dest, "--job", ckptfixture.Name)
	if code != exitOK || !strings.HasSuffix(out, "PASS\n") {
		t.Errorf("verify the export: exit %d\n%s", code, out)
	}

	code, out, _ = ckptRun(t, append([]string{"gc", "--retained", "2"}, where...)...)
	if code != exitOK || !strings.Contains(out, "deleted ") {
		t.Errorf("gc: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(strings.TrimPrefix(uri, "file://"), ckptfixture.Name, checkpoint.MetadataKey(1))); !os.IsNotExist(err) {
		t.Errorf("gc left checkpoint 1: %v", err)
	}
}

// verify exits 1 and names the file when a state file is corrupted; gc
// refuses while a live instance holds the job's lease, naming it; and the
// commands need to be told where the checkpoints are (exit 2).
func TestCheckpointsFailures(t *testing.T) {
	uri, ms := fixtureStore(t, 2)
	where := []string{"--storage", uri, "--job", ckptfixture.Name}
	var sst checkpoint.FileHandle
	for _, f := range ms[1].Tasks[1].Files {
		if strings.HasSuffix(f.Name, ".sst") {
			sst = f
		}
	}
	path := filepath.Join(strings.TrimPrefix(uri, "file://"), ckptfixture.Name, sst.Key)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ckptRun(t, append([]string{"verify", "2"}, where...)...)
	if code != exitFailed || !strings.Contains(out, "FAIL") || !strings.Contains(errOut, "failed the recovery drill") || !strings.Contains(errOut, sst.Key) {
		t.Errorf("verify of a corrupted checkpoint: exit %d\n%s\n%s", code, out, errOut)
	}

	st, err := storage.Open(context.Background(), uri, storage.S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	lease, err := checkpoint.AcquireLease(context.Background(), checkpoint.JobStore(st, ckptfixture.Name), checkpoint.LeaseConfig{
		Holder: checkpoint.Holder{Host: "node-3", PID: 4242}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Close()
	code, _, errOut = ckptRun(t, append([]string{"gc", "--lease-timeout", "300ms"}, where...)...)
	if code != exitFailed || !strings.Contains(errOut, "pid 4242 on node-3") || !strings.Contains(errOut, "stop it first") || !strings.Contains(errOut, "WARN") {
		t.Errorf("gc while the job runs: exit %d\n%s", code, errOut)
	}

	for _, args := range [][]string{{"list"}, {"list", "--storage", uri}, {"verify", "--config", "x.yaml", "--job", "j"}, {"list", "--progress", "sometimes", "--storage", uri, "--job", "j"}, {"export", "--storage", uri, "--job", "j"}} {
		if code, _, errOut := ckptRun(t, args...); code != exitUsage {
			t.Errorf("checkpoints %v: exit %d, want %d: %s", args, code, exitUsage, errOut)
		}
	}
}
