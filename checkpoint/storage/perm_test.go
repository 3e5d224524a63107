package storage_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/permtest"
)

// The file store creates its root, its directories and its objects private
// to the user: 0700 and 0600, whatever the umask allowed.
func TestFileStoreIsPrivate(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "checkpoints")
	st, err := storage.NewFile(root)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, key := range []string{"job/shared/abc.sst", "job/chk-0000000001/g1/keyed-0/MANIFEST-000001"} {
		if err := st.Put(ctx, key, strings.NewReader("data"), 4); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutIfAbsent(ctx, "job/chk-0000000001/_metadata", strings.NewReader("{}"), 2); err != nil {
		t.Fatal(err)
	}
	permtest.Private(t, root)
}
