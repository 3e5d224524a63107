package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// Checkpoint is the synchronous part of a snapshot: it commits the pending
// writes, flushes the memtable to an SST, and makes a Pebble checkpoint in
// dir, which must not exist yet: SSTs hard-linked (so they cost no copy and
// stay valid however the live database compacts), MANIFEST and OPTIONS
// copied. It returns the names of the files in dir. SSTs (IsSST) keep
// their live names, so within one Backend's checkpoints an equal name is an
// equal file; across restores it need not be (a restored database may reuse
// numbers of a lost lineage), so name uploads by content.
//
// dir must be on the live directory's filesystem for the links; otherwise
// Pebble copies. The result opens with OpenFrom.
//
// Afterwards, if level 0 (one file per checkpoint's flush) holds at least
// 64 KiB, Checkpoint starts a pass in the background (one at a time; Close
// cancels it) that compares the keys and values in the database's files
// with the live ones and compacts the whole key range once the files hold
// Options.CompactionRatio times the live state, so that what a checkpoint
// references stays proportional to the live state (see
// DefaultCompactionRatio).
func (b *Backend) Checkpoint(dir string) ([]string, error) {
	if err := b.Flush(); err != nil {
		return nil, fmt.Errorf("state: checkpoint %s: %w", dir, err)
	}
	start := time.Now()
	// With the WAL off, only flushed state is in a checkpoint.
	if err := b.db.Flush(); err != nil {
		return nil, fmt.Errorf("state: checkpoint %s: flush memtable: %w", dir, err)
	}
	flushed := time.Now()
	// WithFlushedWAL is a no-op with the WAL off; it keeps the checkpoint
	// complete should the WAL ever be turned on.
	if err := b.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return nil, fmt.Errorf("state: checkpoint %s: %w", dir, err)
	}
	names, err := fileNames(dir)
	if err != nil {
		return nil, fmt.Errorf("state: checkpoint %s: %w", dir, err)
	}
	// Compact, if the files hold much more than the live state, in the
	// background: the checkpoint just made holds hard links to the files
	// as they are, and the next one references the compacted files.
	b.compactor.maybeStart(b.db)
	b.log.Debug("state checkpoint",
		zap.String("dir", dir), zap.Int("files", len(names)),
		zap.Duration("flush", flushed.Sub(start)), zap.Duration("checkpoint_took", time.Since(flushed)))
	return names, nil
}

// IsSST reports whether name, a file of a checkpoint, is an SST: immutable
// and usually large, the files an incremental snapshot shares between
// checkpoints. The others (MANIFEST, OPTIONS, markers, an empty WAL) are
// small and belong to one checkpoint.
func IsSST(name string) bool { return strings.HasSuffix(name, ".sst") }

// OpenFrom restores a checkpoint: it empties liveDir (removing whatever it
// held, as Open does), hard-links the checkpoint's immutable files (SSTs and
// blob files) into it, falling back to a copy across filesystems, copies
// the rest (MANIFEST, OPTIONS, markers: files Pebble rewrites or appends
// to, which must not change the checkpoint), and opens the result.
// checkpointDir is not modified and may be restored again.
func OpenFrom(checkpointDir, liveDir string, opts Options) (*Backend, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := restoreDir(checkpointDir, liveDir); err != nil {
		return nil, fmt.Errorf("state: restore %s into %s: %w", checkpointDir, liveDir, err)
	}
	b, err := open(liveDir, opts)
	if err != nil {
		return nil, err
	}
	if err := b.checkMaxParallelism(); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("state: restore %s: %w", checkpointDir, err)
	}
	b.log.Info("state restored from checkpoint", zap.String("checkpoint_dir", checkpointDir))
	return b, nil
}

func restoreDir(src, dst string) error {
	same, err := samePath(src, dst)
	if err != nil {
		return err
	}
	if same {
		return errors.New("checkpoint and live directory are the same")
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return errors.New("checkpoint directory is empty")
	}
	if err := resetDir(dst); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return fmt.Errorf("checkpoint holds %s, not a regular file", e.Name())
		}
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if immutable(e.Name()) {
			err = linkOrCopy(from, to)
		} else {
			err = copyFile(from, to)
		}
		if err != nil {
			return err
		}
	}
	return syncDir(dst)
}

// immutable reports whether Pebble never changes the file name in place.
func immutable(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")
}

// pebbleFile reports whether name is a file Pebble writes in its directory.
func pebbleFile(name string) bool {
	switch {
	case name == "LOCK" || name == "CURRENT",
		strings.HasPrefix(name, "MANIFEST-"),
		strings.HasPrefix(name, "OPTIONS-"),
		strings.HasPrefix(name, "marker."),
		strings.HasSuffix(name, ".dbtmp"),
		strings.HasSuffix(name, ".sst"),
		strings.HasSuffix(name, ".blob"),
		strings.HasSuffix(name, ".log"):
		return true
	}
	return false
}

// resetDir leaves dir existing and empty. It refuses to remove anything
// but Pebble's own files, so a wrong path cannot wipe unrelated data.
func resetDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, dirMode)
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !pebbleFile(e.Name()) {
			return fmt.Errorf("%s holds %s, which Pebble did not write: refusing to empty it", dir, e.Name())
		}
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func linkOrCopy(from, to string) error {
	err := os.Link(from, to)
	if err == nil || errors.Is(err, os.ErrExist) || errors.Is(err, os.ErrNotExist) {
		return err
	}
	// Another filesystem (EXDEV) or one without hard links.
	return copyFile(from, to)
}

func copyFile(from, to string) (err error) {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Sync()
}

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

func fileNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

func samePath(a, b string) (bool, error) {
	aa, err := filepath.Abs(a)
	if err != nil {
		return false, err
	}
	bb, err := filepath.Abs(b)
	if err != nil {
		return false, err
	}
	return aa == bb, nil
}
