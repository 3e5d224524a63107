package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// fileStore keeps each object in a file under root, the key's segments
// becoming directories.
//
// A write goes to a temporary file (TempPrefix) in the object's directory,
// is fsynced, and then renamed (Put) or hard-linked (PutIfAbsent) onto the
// object's name; the directory is fsynced after that and after creating a
// directory. A crash can leave temporary files, which List ignores.
type fileStore struct {
	root string
}

// Modes of what the store creates: checkpoints are private to the
// processor's user.
const (
	dirMode  os.FileMode = 0o700
	fileMode os.FileMode = 0o600
)

// mkdirRetries bounds how often a Put recreates a directory that a
// concurrent Delete removed as empty under it.
const mkdirRetries = 20

// NewFile returns a Store that keeps objects as files under the directory
// root, creating it if needed.
func NewFile(root string) (Store, error) {
	if root == "" {
		return nil, errors.New("storage: file store: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("storage: file store %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, dirMode); err != nil {
		return nil, fmt.Errorf("storage: file store: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("storage: file store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("storage: file store: %s is not a directory", abs)
	}
	return &fileStore{root: abs}, nil
}

func (s *fileStore) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

func (s *fileStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.put(ctx, key, r, size, false); err != nil {
		return fmt.Errorf("storage: put %q: %w", key, err)
	}
	return nil
}

func (s *fileStore) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.put(ctx, key, r, size, true); err != nil {
		return fmt.Errorf("storage: put-if-absent %q: %w", key, err)
	}
	return nil
}

func (s *fileStore) put(ctx context.Context, key string, r io.Reader, size int64, ifAbsent bool) (err error) {
	if err := begin(ctx, key, size); err != nil {
		return err
	}
	final := s.path(key)
	dir := filepath.Dir(final)
	f, err := s.createTemp(dir)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if tmp != "" {
			os.Remove(tmp)
		}
	}()
	if err := copyExact(f, ctxReader{ctx, r}, size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if ifAbsent {
		// link(2) fails if final exists, where rename(2) would replace it.
		err = os.Link(tmp, final)
		if rerr := os.Remove(tmp); rerr == nil {
			tmp = ""
		}
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
	} else {
		err = os.Rename(tmp, final)
		if err == nil {
			tmp = ""
		}
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// createTemp creates a new temporary file in dir, creating dir and its
// missing parents (fsyncing each parent) first.
func (s *fileStore) createTemp(dir string) (*os.File, error) {
	var rnd [8]byte
	for range mkdirRetries {
		err := s.mkdirs(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a concurrent Delete pruned a parent; start again
		}
		if err != nil {
			return nil, err
		}
		rand.Read(rnd[:])
		name := filepath.Join(dir, TempPrefix+hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a concurrent Delete pruned dir; make it again
		}
		return f, err
	}
	return nil, fmt.Errorf("directory %s keeps disappearing", dir)
}

// mkdirs creates dir and its missing parents below root, fsyncing the
// parent of each directory it creates.
func (s *fileStore) mkdirs(dir string) error {
	var missing []string
	for d := dir; d != s.root; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	for _, d := range slices.Backward(missing) {
		if err := os.Mkdir(d, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func (s *fileStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := begin(ctx, key, 0); err != nil {
		return nil, fmt.Errorf("storage: get %q: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, fmt.Errorf("storage: get %q: %w", key, notFound(err))
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = ErrNotFound
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: get %q: %w", key, err)
	}
	return f, nil
}

func (s *fileStore) Stat(ctx context.Context, key string) (Info, error) {
	if err := begin(ctx, key, 0); err != nil {
		return Info{}, fmt.Errorf("storage: stat %q: %w", key, err)
	}
	fi, err := os.Stat(s.path(key))
	if err == nil && fi.IsDir() {
		err = ErrNotFound
	}
	if err != nil {
		return Info{}, fmt.Errorf("storage: stat %q: %w", key, notFound(err))
	}
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List walks the directory named by the prefix up to its last slash, and
// prunes subdirectories that cannot hold a matching key.
func (s *fileStore) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage: list %q: %w", prefix, err)
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("storage: list %q: %w", prefix, err)
	}
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = s.path(prefix[:i])
	}
	infos := []Info{}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil // gone meanwhile, or the prefix names a file
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == s.root {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if p == start || strings.HasPrefix(key+"/", prefix) || strings.HasPrefix(prefix, key+"/") {
				return nil
			}
			return fs.SkipDir
		}
		if strings.HasPrefix(d.Name(), TempPrefix) || !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		infos = append(infos, Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: list %q: %w", prefix, err)
	}
	slices.SortFunc(infos, compareKeys)
	return infos, nil
}

// Delete removes the object's file, then every parent directory up to root
// that this left empty.
func (s *fileStore) Delete(ctx context.Context, key string) error {
	if err := begin(ctx, key, 0); err != nil {
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	p := s.path(key)
	if fi, err := os.Lstat(p); err != nil || fi.IsDir() {
		if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	dir := filepath.Dir(p)
	if err := syncDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	for ; dir != s.root; dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty (or gone): stop pruning
		}
	}
	return nil
}

func (s *fileStore) Close() error { return nil }

// notFound maps a missing file, or a file standing where a directory of the
// key should be, to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// syncDir fsyncs a directory, making the entries created or removed in it
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
