package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/internal/ckptfixture"
)

// TestGCSavepoints: checkpoints gc lists and deletes partial savepoints,
// and with --savepoints-retained the savepoints beyond it; complete
// savepoints stay by default.
func TestGCSavepoints(t *testing.T) {
	uri, _ := fixtureStore(t, 3)
	root := filepath.Join(strings.TrimPrefix(uri, "file://"), ckptfixture.Name)
	where := []string{"--storage", uri, "--job", ckptfixture.Name}
	for _, name := range []string{"old", "new"} {
		if code, out, errOut := ckptRun(t, append([]string{"export", "3", "--to", uri, "--name", name}, where...)...); code != exitOK {
			t.Fatalf("export %s: exit %d\n%s%s", name, code, out, errOut)
		}
	}
	partial := filepath.Join(root, "savepoints", "crashed", "keyed-0")
	if err := os.MkdirAll(partial, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(partial, "000001.sst"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := ckptRun(t, append([]string{"gc", "--dry-run"}, where...)...)
	if code != exitOK || !strings.Contains(out, "partial savepoints: crashed") || strings.Contains(out, "expired savepoints") {
		t.Fatalf("gc --dry-run: exit %d\n%s", code, out)
	}
	code, out, _ = ckptRun(t, append([]string{"gc", "--savepoints-retained", "1"}, where...)...)
	if code != exitOK || !strings.Contains(out, "expired savepoints: old") || !strings.Contains(out, "partial savepoints: crashed") {
		t.Fatalf("gc --savepoints-retained 1: exit %d\n%s", code, out)
	}
	for dir, want := range map[string]bool{"old": false, "crashed": false, "new": true} {
		_, err := os.Stat(filepath.Join(root, "savepoints", dir, "_metadata"))
		if dir == "crashed" {
			_, err = os.Stat(filepath.Join(partial, "000001.sst"))
		}
		if (err == nil) != want {
			t.Errorf("savepoint %s present: %v, want %v", dir, err == nil, want)
		}
	}
}
