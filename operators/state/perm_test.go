package state_test

import (
	"path/filepath"
	"testing"

	"github.com/tidemark/tidemark/internal/permtest"
	"github.com/tidemark/tidemark/operators/state"
)

// Everything the backend creates — the live database, its checkpoints and
// a database restored from one — is private to the user: directories 0700,
// files 0600.
func TestStateIsPrivate(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state")
	b, err := state.Open(filepath.Join(root, "live", "keyed-0"), state.Options{})
	must(t, err)
	fill(t, b, 0, 100)
	_, err = b.Checkpoint(filepath.Join(root, "checkpoints", "chk-1"))
	must(t, err)
	r, err := state.OpenFrom(filepath.Join(root, "checkpoints", "chk-1"), filepath.Join(root, "restored"), state.Options{})
	must(t, err)
	fill(t, r, 1, 10)
	must(t, r.Flush())
	must(t, r.Close())
	must(t, b.Close())
	permtest.Private(t, root)
}
