package checkpoint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
)

// uploader uploads one keyed task's snapshots incrementally: SST files are
// immutable and content-addressed in shared/, so each is uploaded once and
// referenced by every checkpoint that holds it; the other files go to the
// checkpoint's exclusive directory.
//
// Every shared file is registered with the registry before it is uploaded
// or reused, which keeps garbage collection off it while the checkpoint is
// in flight; the registry also says whether the file is stored. A reused
// file is checked to exist now and then (checks per snapshot, round-robin),
// so that one deleted behind the processor's back is uploaded again.
type uploader struct {
	st     storage.Store
	reg    *registry
	task   operators.TaskID
	gen    int64 // lease generation of this instance
	log    *zap.Logger
	checks int // existence checks of reused files per snapshot

	mu sync.Mutex
	// known maps a local SST name to its stored handle, for the SSTs of
	// the last complete checkpoint and of checkpoints in flight: it saves
	// hashing them again.
	known   map[string]FileHandle
	base    []FileHandle           // files of the last complete checkpoint
	pending map[int64][]FileHandle // files of checkpoints in flight
	// cursor is the key of the last reused file checked: the next checks
	// go on after it.
	cursor string
}

// exclusiveDir is where checkpoint id's exclusive files of task go: under
// a directory of the writer's lease generation (when there is one), so that
// an instance that lost the job and writes the same checkpoint id can never
// overwrite a file the job's owner references.
func exclusiveDir(id, gen int64, task operators.TaskID) string {
	if gen > 0 {
		return fmt.Sprintf("%sg%d/%s/", CheckpointDir(id), gen, task)
	}
	return CheckpointDir(id) + task.String() + "/"
}

func newUploader(st storage.Store, reg *registry, task operators.TaskID, gen int64, restored []FileHandle, checks int, log *zap.Logger) *uploader {
	u := &uploader{st: st, reg: reg, task: task, gen: gen, checks: checks, log: log, pending: map[int64][]FileHandle{}}
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
	checkedN int   // reused files checked to exist
	missingN int   // reused files found missing and uploaded again
}

// snapFile is one file of a snapshot on its way to storage.
type snapFile struct {
	h       FileHandle
	path    string
	shared  bool
	stored  bool // shared and known stored: reuse it
	missing bool // found missing from storage: upload it again
}

// upload stores the snapshot for checkpoint id, which must be registered
// (registry.begin). ctx is the checkpoint's: it ends when the checkpoint
// fails.
func (u *uploader) upload(ctx context.Context, id int64, snap operators.TaskSnapshot) (uploadResult, error) {
	var res uploadResult
	var ents []os.DirEntry
	if snap.Dir != "" { // a stateless task has no state files
		var err error
		if ents, err = os.ReadDir(snap.Dir); err != nil {
			return res, fmt.Errorf("checkpoint: read snapshot of %s: %w", u.task, err)
		}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	u.mu.Lock()
	known := u.known
	u.mu.Unlock()
	var files []*snapFile
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
		f := &snapFile{path: path, shared: strings.HasSuffix(name, ".sst")}
		if h, ok := known[name]; ok && f.shared && h.Size == info.Size() {
			f.h = h
		} else {
			sum, err := fileSHA256(path)
			if err != nil {
				return res, err
			}
			f.h = FileHandle{Name: name, Size: info.Size(), SHA256: sum}
			if f.shared {
				f.h.Key = sharedKey(sum)
			} else {
				f.h.Key = exclusiveDir(id, u.gen, u.task) + name
			}
		}
		if f.shared {
			// Registered before it is reused or uploaded: garbage
			// collection keeps off it from here on.
			if f.stored, err = u.reg.register(ctx, id, f.h.Key); err != nil {
				return res, err
			}
		}
		files = append(files, f)
	}
	if err := u.checkReused(ctx, files, &res); err != nil {
		return res, err
	}
	for _, f := range files {
		res.files = append(res.files, f.h)
		if f.stored {
			res.reusedN++
			continue
		}
		if err := putFile(ctx, u.st, f.h.Key, f.path, f.h.Size); err != nil {
			if f.missing {
				return res, fmt.Errorf("checkpoint: shared file %s (%s of %s) is missing from storage and cannot be uploaded again: %w", f.h.Key, f.h.Name, u.task, err)
			}
			return res, err
		}
		if f.shared {
			u.reg.markStored(id, f.h.Key)
		}
		res.uploaded += f.h.Size
		res.uploadN++
	}
	if snap.Unaligned && len(snap.InFlight) > 0 {
		data, err := encodeInFlight(snap.InFlight)
		if err != nil {
			return res, err
		}
		sum := sha256.Sum256(data)
		h := FileHandle{Name: inFlightName, Key: exclusiveDir(id, u.gen, u.task) + inFlightName, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
		if err := u.st.Put(ctx, h.Key, bytes.NewReader(data), h.Size); err != nil {
			return res, fmt.Errorf("checkpoint: upload %s: %w", h.Key, err)
		}
		res.inFlight = &h
		res.uploaded += h.Size
		res.uploadN++
	}
	return res, nil
}

// checkReused checks that up to u.checks of the files about to be reused
// exist, going round the reused files in key order from where the last
// snapshot's checks stopped: a file reused by consecutive checkpoints is
// checked within ceil(reused/checks) of them. A missing file is uploaded
// again from the snapshot (its key names its content, so it comes back
// under the same key).
func (u *uploader) checkReused(ctx context.Context, files []*snapFile, res *uploadResult) error {
	if u.checks <= 0 {
		return nil
	}
	var reused []*snapFile
	for _, f := range files {
		if f.stored {
			reused = append(reused, f)
		}
	}
	if len(reused) == 0 {
		return nil
	}
	sort.Slice(reused, func(i, j int) bool { return reused[i].h.Key < reused[j].h.Key })
	u.mu.Lock()
	start := sort.Search(len(reused), func(i int) bool { return reused[i].h.Key > u.cursor })
	n := min(u.checks, len(reused))
	u.cursor = reused[(start+n-1)%len(reused)].h.Key
	u.mu.Unlock()
	for i := range n {
		f := reused[(start+i)%len(reused)]
		_, err := u.st.Stat(ctx, f.h.Key)
		res.checkedN++
		switch {
		case errors.Is(err, storage.ErrNotFound):
			u.log.Warn("a shared state file is missing from checkpoint storage (deleted by a lifecycle rule or by hand?): uploading it again from the local copy",
				zap.String("key", f.h.Key), zap.String("file", f.h.Name), zap.Stringer("task", u.task))
			u.reg.markMissing(f.h.Key)
			f.stored, f.missing = false, true
			res.missingN++
		case err != nil:
			return fmt.Errorf("checkpoint: check that %s exists: %w", f.h.Key, err)
		}
	}
	return nil
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

// aborted forgets checkpoint id's files.
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
		return fmt.Errorf("checkpoint: upload %s: the local copy is gone: %w", key, err)
	}
	defer f.Close()
	if err := st.Put(ctx, key, f, size); err != nil {
		return fmt.Errorf("checkpoint: upload %s: %w", key, err)
	}
	return nil
}
