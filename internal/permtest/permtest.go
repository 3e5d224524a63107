package permtest

import (
	"io/fs"
	"path/filepath"
	"testing"
)

// Private fails t for every directory under root (root included) whose mode
// is not 0700 and every regular file whose mode is not 0600. It fails too
// if root holds no regular file at all, so that a check of an empty tree
// cannot pass by accident.
func Private(t testing.TB, root string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		switch {
		case mode.IsDir():
			if mode.Perm() != 0o700 {
				t.Errorf("directory %s has mode %v, want drwx------ (0700)", p, mode.Perm())
			}
		case mode.IsRegular():
			files++
			if mode.Perm() != 0o600 {
				t.Errorf("file %s has mode %v, want -rw------- (0600)", p, mode.Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("permtest: walk %s: %v", root, err)
	}
	if files == 0 {
		t.Fatalf("permtest: %s holds no file to check", root)
	}
}
