package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/storagetest"
)

func TestMem(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return storage.NewMem() })
}

func newFile(t *testing.T) (storage.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := storage.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestFile(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := newFile(t)
		return s
	})
}

// files lists the regular files under dir, slash-separated and relative.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestFileLayout(t *testing.T) {
	ctx := context.Background()
	s, dir := newFile(t)
	if err := s.Put(ctx, "job/chk-000001/_metadata", strings.NewReader("meta"), 4); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "job", "chk-000001", "_metadata"))
	if err != nil || string(b) != "meta" {
		t.Fatalf("object file: %q, %v", b, err)
	}
	// A crashed writer's temporary file is not an object.
	if err := os.WriteFile(filepath.Join(dir, "job", "chk-000001", storage.TempPrefix+"123"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	infos, err := s.List(ctx, "job/")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Key != "job/chk-000001/_metadata" {
		t.Fatalf("List = %+v, want only the metadata", infos)
	}
	// Delete removes the directories it empties, not the root.
	if err := os.Remove(filepath.Join(dir, "job", "chk-000001", storage.TempPrefix+"123")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "job/chk-000001/_metadata"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Fatalf("root after deleting the only object: %v, %v; want empty", entries, err)
	}
	// Successful and failed writes leave no temporary files.
	if err := s.Put(ctx, "a/b", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	_ = s.PutIfAbsent(ctx, "a/b", strings.NewReader("y"), 1)
	_ = s.Put(ctx, "a/c", strings.NewReader("short"), 10)
	if got := files(t, dir); !slices.Equal(got, []string{"a/b"}) {
		t.Fatalf("files = %q, want [a/b]", got)
	}
}

func TestNewFileErrors(t *testing.T) {
	if _, err := storage.NewFile(""); err == nil {
		t.Error("NewFile(\"\"): no error")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.NewFile(f); err == nil || !strings.Contains(err.Error(), f) {
		t.Errorf("NewFile of a regular file: err %v, want one naming it", err)
	}
	// A key whose directory is an object cannot be written.
	s, _ := newFile(t)
	ctx := context.Background()
	if err := s.Put(ctx, "a", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a/b", strings.NewReader("x"), 1); err == nil || !strings.Contains(err.Error(), `"a/b"`) {
		t.Errorf("Put below an object: err %v, want one naming the key", err)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "new", "root")
	for _, uri := range []string{"file://" + dir, "file://localhost" + dir} {
		s, err := storage.Open(ctx, uri, storage.S3Config{})
		if err != nil {
			t.Fatalf("Open %q: %v", uri, err)
		}
		if err := s.Put(ctx, "k", strings.NewReader("v"), 1); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "k")); err != nil {
			t.Fatalf("Open %q: object not in the directory: %v", uri, err)
		}
		s.Close()
	}
	for _, uri := range []string{"s3://bucket", "s3://bucket/", "s3://bucket/some/prefix", "s3://bucket/some/prefix/"} {
		s, err := storage.Open(ctx, uri, storage.S3Config{Endpoint: "http://127.0.0.1:1", Region: "us-east-1", PathStyle: true})
		if err != nil {
			t.Fatalf("Open %q: %v", uri, err)
		}
		s.Close()
	}
	for _, uri := range []string{
		"", "relative/path", "/abs/path", "file://relative", "file:relative", "file://host/abs",
		"file:///abs?x=1", "ftp://host/x", "s3://", "s3:///prefix", "s3://bucket/a//b", "s3://bucket/../x",
		"s3://user@bucket/x", "://bad",
	} {
		_, err := storage.Open(ctx, uri, storage.S3Config{})
		if err == nil {
			t.Errorf("Open %q: no error", uri)
		} else if !strings.Contains(err.Error(), uri) {
			t.Errorf("Open %q: error %q does not name the URI", uri, err)
		}
	}
}

func TestValidateKey(t *testing.T) {
	err := storage.ValidateKey("a//b")
	if !errors.Is(err, storage.ErrInvalidKey) || !strings.Contains(err.Error(), `"a//b"`) {
		t.Errorf("ValidateKey(a//b) = %v, want ErrInvalidKey naming the key", err)
	}
	for _, key := range []string{"a", "a/b/c", "chk-000001/_metadata", "shared/0a1b.sst", "..a/b..", strings.Repeat("x", storage.MaxKeyLen)} {
		if err := storage.ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v", key, err)
		}
	}
}
