package checkpoint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
)

// ErrTopologyMismatch: the checkpoint was taken by a different job graph.
var ErrTopologyMismatch = errors.New("checkpoint: taken by a different topology")

// ErrStateCorrupt: a state file of the checkpoint being restored is missing
// from the store or does not match the size and checksum its metadata
// records (truncated, overwritten, damaged). The metadata itself is intact;
// an older checkpoint may restore.
var ErrStateCorrupt = errors.New("checkpoint: state file corrupted")

// RestoreOptions say which checkpoint to restore.
type RestoreOptions struct {
	// From names the checkpoint: "" for the newest complete one, a
	// checkpoint id ("12" or "chk-0000000012"), or a savepoint name
	// ("savepoints/NAME" or "NAME").
	From string
	// Fallback allows restoring from an older retained checkpoint when the
	// newest one's metadata is corrupted.
	Fallback bool
	// Topology, when set, must match the checkpoint's, or the
	// checkpoint's description (Metadata.TopologyDescription) must differ
	// from Description only in task counts (a rescale; see Rescale);
	// Description is what Topology fingerprints, for saying what differs.
	Topology    string
	Description []string
	// Fences, when set, exclude checkpoints that a zombie completed.
	Fences Fences
	// Fresh restores nothing (PlanRestore still finds the newest
	// checkpoint, whose transactions recovery settles).
	Fresh bool
	Log   *zap.Logger
}

// FindRestorePoint reads and verifies the metadata to restore from. With
// no From and no complete checkpoint it returns nil and no error: a fresh
// start.
func FindRestorePoint(ctx context.Context, st storage.Store, o RestoreOptions) (*Metadata, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	m, err := findRestorePoint(ctx, st, o)
	if err != nil || m == nil {
		return m, err
	}
	if _, err := checkTopology(m, o.Topology, o.Description); err != nil {
		return nil, err
	}
	return m, nil
}

func findRestorePoint(ctx context.Context, st storage.Store, o RestoreOptions) (*Metadata, error) {
	if o.From != "" {
		return readMetadata(ctx, st, fromKey(o.From))
	}
	l, err := list(ctx, st)
	if err != nil {
		return nil, err
	}
	for i := len(l.complete) - 1; i >= 0; i-- {
		id := l.complete[i]
		m, err := readMetadata(ctx, st, MetadataKey(id))
		if err == nil {
			if newest := l.complete[len(l.complete)-1]; id != newest {
				o.Log.Warn("--fallback: restoring an older checkpoint than the newest; the output written since it was taken is written again",
					zap.Int64("checkpoint", id), zap.Int64("newest", newest))
			}
			return m, nil
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
			return nil, err
		}
		if !o.Fallback {
			return nil, fmt.Errorf("newest checkpoint %d cannot be restored: %w; to restore from the previous retained checkpoint instead, run with --fallback (or name one with --from)", id, err)
		}
		o.Log.Warn("newest checkpoint is corrupted, falling back to the previous one", zap.Int64("checkpoint", id), zap.Error(err))
	}
	if len(l.complete) > 0 {
		return nil, fmt.Errorf("%w: none of the %d retained checkpoints can be restored", ErrCorrupt, len(l.complete))
	}
	return nil, nil
}

func fromKey(from string) string {
	s := strings.TrimPrefix(from, chkPrefix)
	if id, err := strconv.ParseInt(s, 10, 64); err == nil && id > 0 {
		return MetadataKey(id)
	}
	return SavepointDir(strings.TrimSuffix(strings.TrimPrefix(from, savepointsDir), "/")) + metadataName
}

// PrepareTask puts task's files of checkpoint m into dest, a new
// directory that state.OpenFrom can open, and returns the task's in-flight
// elements (records and dead letters to replay, in order). Files of a local
// snapshot of the same checkpoint (under localDir/chk-<n>/<task>/) whose
// checksum matches are linked instead of downloaded: local recovery.
func PrepareTask(ctx context.Context, st storage.Store, m *Metadata, task operators.TaskID, localDir, dest string) (inFlight []operators.InFlight, reused int, err error) {
	var ts *TaskState
	for i := range m.Tasks {
		if m.Tasks[i].ID() == task {
			ts = &m.Tasks[i]
		}
	}
	if ts == nil {
		return nil, 0, fmt.Errorf("checkpoint %d holds no state for task %s", m.CheckpointID, task)
	}
	if err := os.RemoveAll(dest); err != nil {
		return nil, 0, fmt.Errorf("checkpoint: clear %s: %w", dest, err)
	}
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return nil, 0, fmt.Errorf("checkpoint: %w", err)
	}
	local := filepath.Join(localDir, localName(m.CheckpointID), task.String())
	for _, f := range ts.Files {
		if m.Savepoint == "" && linkIfMatches(filepath.Join(local, f.Name), filepath.Join(dest, f.Name), f) {
			reused++
			continue
		}
		if err := download(ctx, st, f, filepath.Join(dest, f.Name)); err != nil {
			return nil, reused, restoreError(ctx, st, m, f, err)
		}
	}
	if ts.InFlight != nil {
		path := filepath.Join(dest, "..", "in-flight-"+task.String()+".json")
		if err := download(ctx, st, *ts.InFlight, path); err != nil {
			return nil, reused, restoreError(ctx, st, m, *ts.InFlight, err)
		}
		data, err := os.ReadFile(path)
		_ = os.Remove(path)
		if err != nil {
			return nil, reused, fmt.Errorf("checkpoint: %w", err)
		}
		if inFlight, err = decodeInFlight(data); err != nil {
			return nil, reused, fmt.Errorf("checkpoint: %s of %s: %w", ts.InFlight.Key, task, err)
		}
	}
	return inFlight, reused, nil
}

func linkIfMatches(src, dst string, f FileHandle) bool {
	info, err := os.Stat(src)
	if err != nil || info.Size() != f.Size {
		return false
	}
	if sum, err := fileSHA256(src); err != nil || sum != f.SHA256 {
		return false
	}
	return os.Link(src, dst) == nil
}

// download fetches f into path and verifies its size and checksum.
func download(ctx context.Context, st storage.Store, f FileHandle, path string) error {
	return DownloadFile(ctx, st, f, path, nil)
}

// DownloadFile fetches the stored file f from st (rooted at the job) into a
// new file at path (mode 0600) and checks its size and checksum: a mismatch
// is an error wrapping ErrStateCorrupt that names the key and both sizes
// and checksums. wrap, if set, wraps the stream read from st (to count or
// pace the bytes).
func DownloadFile(ctx context.Context, st storage.Store, f FileHandle, path string, wrap func(io.Reader) io.Reader) error {
	rc, err := st.Get(ctx, f.Key)
	if err != nil {
		return fmt.Errorf("checkpoint: restore %s: %w", f.Key, err)
	}
	defer rc.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	var r io.Reader = rc
	if wrap != nil {
		r = wrap(r)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: restore %s: %w", f.Key, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != f.Size || sum != f.SHA256 {
		return &fileMismatch{f: f, size: n, sum: sum}
	}
	return nil
}

// fileMismatch: a downloaded file does not match its handle.
type fileMismatch struct {
	f    FileHandle
	size int64
	sum  string
}

func (e *fileMismatch) Error() string {
	return fmt.Sprintf("%s has %d bytes with sha256 %s, the metadata says %d bytes with sha256 %s", e.f.Key, e.size, e.sum, e.f.Size, e.f.SHA256)
}

func (e *fileMismatch) Is(target error) bool { return target == ErrStateCorrupt }

// restoreError explains a state file of m that is corrupted or missing,
// and which checkpoints could be restored instead; other errors (the
// store unreachable, say) pass unchanged.
func restoreError(ctx context.Context, st storage.Store, m *Metadata, f FileHandle, err error) error {
	var mismatch *fileMismatch
	var what string
	switch {
	case errors.As(err, &mismatch):
		what = fmt.Sprintf("is corrupted: %d bytes with sha256 %s, the metadata says %d bytes with sha256 %s", mismatch.size, mismatch.sum, f.Size, f.SHA256)
	case errors.Is(err, storage.ErrNotFound):
		what = "is missing from the checkpoint storage"
	default:
		return err
	}
	name := fmt.Sprintf("checkpoint %d", m.CheckpointID)
	if m.Savepoint != "" {
		name = "savepoint " + m.Savepoint
	}
	return &stateError{err: err, msg: fmt.Sprintf("checkpoint: state file %s of %s %s; the metadata is intact, but %s cannot be restored. %s",
		f.Key, name, what, name, alternatives(ctx, st, m))}
}

// stateError is an ErrStateCorrupt with its explanation.
type stateError struct {
	msg string
	err error
}

func (e *stateError) Error() string { return e.msg }

func (e *stateError) Is(target error) bool { return target == ErrStateCorrupt }

func (e *stateError) Unwrap() error { return e.err }

// alternatives says which checkpoints to restore instead of m.
func alternatives(ctx context.Context, st storage.Store, m *Metadata) string {
	const again = "; the output written since the checkpoint restored was taken is then written again"
	l, err := list(ctx, st)
	if err != nil {
		return "Restore an older checkpoint with processor run --from <id>" + again + "."
	}
	var ids []string
	for i := len(l.complete) - 1; i >= 0; i-- {
		if id := l.complete[i]; m.Savepoint != "" || id < m.CheckpointID {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
	}
	if len(ids) == 0 {
		return "No older checkpoint is retained: restore a savepoint with processor run --from savepoints/<name>, " +
			"or start afresh under a new job.name (or with the job's checkpoints deleted)."
	}
	return fmt.Sprintf("Restore an older checkpoint with processor run --from %s (retained, newest first: %s)%s.", ids[0], strings.Join(ids, ", "), again)
}

// Positions returns the source positions of m by source name (a legacy
// job's one source, and every source of a checkpoint before version 3, is
// named "").
func (m *Metadata) Positions() map[string][]operators.Position {
	ps := map[string][]operators.Position{}
	for _, s := range m.Sources {
		ps[s.Source] = append(ps[s.Source], s.Positions...)
	}
	return ps
}
