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

// RestoreOptions say which checkpoint to restore.
type RestoreOptions struct {
	// From names the checkpoint: "" for the newest complete one, a
	// checkpoint id ("12" or "chk-0000000012"), or a savepoint name
	// ("savepoints/NAME" or "NAME").
	From string
	// Fallback allows restoring from an older retained checkpoint when the
	// newest one's metadata is corrupted.
	Fallback bool
	// Topology, when set, must match the checkpoint's.
	Topology string
	Log      *zap.Logger
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
	if o.Topology != "" && m.Topology != o.Topology {
		return nil, fmt.Errorf("%w: checkpoint %d has topology %s, this job %s; start with a new job name or restore from a matching checkpoint",
			ErrTopologyMismatch, m.CheckpointID, m.Topology, o.Topology)
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
		return nil, fmt.Errorf("checkpoint: none of the %d retained checkpoints can be restored", len(l.complete))
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

// PrepareTask puts keyed task's files of checkpoint m into dest, a new
// directory that state.OpenFrom can open, and returns the task's in-flight
// elements (records and dead letters to replay, in order). Files of a local
// snapshot of the same checkpoint (under localDir/chk-<n>/keyed-<task>/)
// whose checksum matches are linked instead of downloaded: local recovery.
func PrepareTask(ctx context.Context, st storage.Store, m *Metadata, task int, localDir, dest string) (inFlight []operators.InFlight, reused int, err error) {
	var ts *TaskState
	for i := range m.Tasks {
		if m.Tasks[i].Task == task {
			ts = &m.Tasks[i]
		}
	}
	if ts == nil {
		return nil, 0, fmt.Errorf("checkpoint %d holds no state for task keyed-%d", m.CheckpointID, task)
	}
	if err := os.RemoveAll(dest); err != nil {
		return nil, 0, fmt.Errorf("checkpoint: clear %s: %w", dest, err)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, 0, fmt.Errorf("checkpoint: %w", err)
	}
	local := filepath.Join(localDir, localName(m.CheckpointID), operators.TaskID{Stage: "keyed", Index: task}.String())
	for _, f := range ts.Files {
		if m.Savepoint == "" && linkIfMatches(filepath.Join(local, f.Name), filepath.Join(dest, f.Name), f) {
			reused++
			continue
		}
		if err := download(ctx, st, f, filepath.Join(dest, f.Name)); err != nil {
			return nil, reused, err
		}
	}
	if ts.InFlight != nil {
		path := filepath.Join(dest, "..", "in-flight-"+strconv.Itoa(task)+".json")
		if err := download(ctx, st, *ts.InFlight, path); err != nil {
			return nil, reused, err
		}
		data, err := os.ReadFile(path)
		_ = os.Remove(path)
		if err != nil {
			return nil, reused, fmt.Errorf("checkpoint: %w", err)
		}
		if inFlight, err = decodeInFlight(data); err != nil {
			return nil, reused, fmt.Errorf("checkpoint: %s of keyed-%d: %w", ts.InFlight.Key, task, err)
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
	rc, err := st.Get(ctx, f.Key)
	if err != nil {
		return fmt.Errorf("checkpoint: restore %s: %w", f.Key, err)
	}
	defer rc.Close()
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), rc)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: restore %s: %w", f.Key, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != f.Size || sum != f.SHA256 {
		return fmt.Errorf("%w: %s has %d bytes with sha256 %s, the metadata says %d bytes with %s", ErrCorrupt, f.Key, n, sum, f.Size, f.SHA256)
	}
	return nil
}

// Positions returns the source positions of m by source task.
func (m *Metadata) Positions() map[int][]operators.Position {
	ps := map[int][]operators.Position{}
	for _, s := range m.Sources {
		ps[s.Task] = s.Positions
	}
	return ps
}
