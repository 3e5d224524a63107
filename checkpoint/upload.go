package checkpoint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
)

// uploader uploads one keyed task's snapshots incrementally: SST files are
// immutable and content-addressed in shared/, so each is uploaded once and
// referenced by every checkpoint that holds it; the other files go to the
// checkpoint's exclusive directory.
type uploader struct {
	st   storage.Store
	task operators.TaskID

	mu sync.Mutex
	// known maps a local SST name to its stored handle, for the SSTs of
	// the last complete checkpoint and of checkpoints in flight: the only
	// shared files garbage collection is sure to keep.
	known   map[string]FileHandle
	base    []FileHandle           // files of the last complete checkpoint
	pending map[int64][]FileHandle // files of checkpoints in flight
}

func newUploader(st storage.Store, task operators.TaskID, restored []FileHandle) *uploader {
	u := &uploader{st: st, task: task, pending: map[int64][]FileHandle{}}
	u.base = restored
	u.rebuild()
	return u
}

func (u *uploader) rebuild() {
	u.known = map[string]FileHandle{}
	add := func(fs []FileHandle) {
		for _, f := range fs {
			if strings.HasPrefix(f.Key, sharedDir) {
				u.known[f.Name] = f
			}
		}
	}
	add(u.base)
	for _, fs := range u.pending {
		add(fs)
	}
}

// uploadResult is what one task snapshot's upload produced.
type uploadResult struct {
	files    []FileHandle
	inFlight *FileHandle
	uploaded int64 // bytes sent
	uploadN  int   // files sent
	reusedN  int   // files referenced from earlier checkpoints
}

// upload stores the snapshot in dir for checkpoint id.
func (u *uploader) upload(ctx context.Context, id int64, snap operators.TaskSnapshot) (uploadResult, error) {
	var res uploadResult
	ents, err := os.ReadDir(snap.Dir)
	if err != nil {
		return res, fmt.Errorf("checkpoint: read snapshot of %s: %w", u.task, err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	u.mu.Lock()
	known := u.known
	u.mu.Unlock()
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		path := filepath.Join(snap.Dir, name)
		info, err := e.Info()
		if err != nil {
			return res, fmt.Errorf("checkpoint: stat %s: %w", path, err)
		}
		if strings.HasSuffix(name, ".sst") {
			if h, ok := known[name]; ok && h.Size == info.Size() {
				res.files = append(res.files, h)
				res.reusedN++
				continue
			}
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return res, err
		}
		h := FileHandle{Name: name, Size: info.Size(), SHA256: sum}
		if strings.HasSuffix(name, ".sst") {
			// Even if an identical object exists (an orphan of a crash),
			// upload it again: the fresh modification time is what keeps
			// garbage collection off it while this checkpoint is in flight.
			h.Key = sharedKey(sum)
		} else {
			h.Key = CheckpointDir(id) + u.task.String() + "/" + name
		}
		if err := putFile(ctx, u.st, h.Key, path, h.Size); err != nil {
			return res, err
		}
		res.files = append(res.files, h)
		res.uploaded += h.Size
		res.uploadN++
	}
	if snap.Unaligned && len(snap.InFlight) > 0 {
		data, err := json.Marshal(snap.InFlight)
		if err != nil {
			return res, fmt.Errorf("checkpoint: encode in-flight records: %w", err)
		}
		sum := sha256.Sum256(data)
		h := FileHandle{Name: "in-flight.json", Key: CheckpointDir(id) + u.task.String() + "/in-flight.json", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
		if err := u.st.Put(ctx, h.Key, strings.NewReader(string(data)), h.Size); err != nil {
			return res, fmt.Errorf("checkpoint: upload %s: %w", h.Key, err)
		}
		res.inFlight = &h
		res.uploaded += h.Size
		res.uploadN++
	}
	return res, nil
}

// accepted records that checkpoint id (still in flight) references files.
func (u *uploader) accepted(id int64, files []FileHandle) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pending[id] = files
	u.rebuild()
}

// completed makes checkpoint id's files the base and forgets older ones.
func (u *uploader) completed(id int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if fs, ok := u.pending[id]; ok {
		u.base = fs
	}
	for p := range u.pending {
		if p <= id {
			delete(u.pending, p)
		}
	}
	u.rebuild()
}

// aborted forgets checkpoint id's files: they may be collected.
func (u *uploader) aborted(id int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.pending, id)
	u.rebuild()
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checkpoint: hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func putFile(ctx context.Context, st storage.Store, key, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	if err := st.Put(ctx, key, f, size); err != nil {
		return fmt.Errorf("checkpoint: upload %s: %w", key, err)
	}
	return nil
}
