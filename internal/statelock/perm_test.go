package statelock_test

import (
	"path/filepath"
	"testing"

	"github.com/tidemark/tidemark/internal/permtest"
	"github.com/tidemark/tidemark/internal/statelock"
)

// The state directory Acquire creates and its lock file are private to the
// user: 0700 and 0600.
func TestStateDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "nested")
	l, err := statelock.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	permtest.Private(t, filepath.Dir(dir))
}
