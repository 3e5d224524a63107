package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// errHolderGone: a registration for a checkpoint that failed (or was
// otherwise released) meanwhile; its upload is moot.
var errHolderGone = errors.New("checkpoint: the checkpoint ended while its files were being registered")

// registry tracks which shared files are in use, so that garbage
// collection deletes one only when nothing may still need it: decided by
// references, never by time (a store's clock may be off by many minutes),
// in the manner of Flink's SharedStateRegistry.
//
// A holder references files:
//   - a checkpoint in flight registers each shared file before it uploads
//     or reuses it, and keeps it until it completes or fails;
//   - a complete checkpoint keeps its references until retention expires
//     it (metadata deleted) or it is found gone from the store;
//   - a savepoint being copied holds the files of its checkpoint.
//
// Garbage collection deletes a file only through tryDelete, which refuses
// any file a holder references, and marks the file as being deleted until
// deleted is called. A registration of a file being deleted waits for the
// deletion to end and then reports the file as not stored, so that the
// uploader uploads it afresh: a file is never both deleted and reused.
//
// An entry also knows whether its file is stored (uploaded while held, or
// referenced by a complete checkpoint and not found missing): only then may
// an uploader reuse it instead of uploading it.
type registry struct {
	mu      sync.Mutex
	entries map[string]*entry
	holders map[int64]*holder
}

type entry struct {
	refs   int  // holders that reference the file
	stored bool // the file is known to be in the store
	// deleting is closed when the deletion under way ends; nil when the
	// file is not being deleted.
	deleting chan struct{}
}

type holder struct {
	keys map[string]bool
	// open: a checkpoint in flight, which may still register files.
	open bool
	// checkpoint: a checkpoint's own references (not a savepoint copy's).
	checkpoint bool
}

func newRegistry() *registry {
	return &registry{entries: map[string]*entry{}, holders: map[int64]*holder{}}
}

// begin opens checkpoint id for registrations.
func (r *registry) begin(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.holders[id] == nil {
		r.holders[id] = &holder{keys: map[string]bool{}, open: true, checkpoint: true}
	}
}

// register records that checkpoint id, in flight, references key, and
// reports whether key is known to be stored (it may be reused) or must be
// uploaded. If key is being deleted it waits for the deletion to end; the
// file then is not stored. It fails if the checkpoint is no longer in
// flight, or ctx ends while waiting.
func (r *registry) register(ctx context.Context, id int64, key string) (stored bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		h := r.holders[id]
		if h == nil || !h.open {
			return false, fmt.Errorf("%w (checkpoint %d, %s)", errHolderGone, id, key)
		}
		e := r.entries[key]
		if e == nil {
			e = &entry{}
			r.entries[key] = e
		}
		if e.deleting == nil {
			if !h.keys[key] {
				h.keys[key] = true
				e.refs++
			}
			return e.stored, nil
		}
		wait := e.deleting
		r.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			r.mu.Lock()
			return false, fmt.Errorf("checkpoint: waiting for the deletion of %s: %w", key, ctx.Err())
		}
		r.mu.Lock()
	}
}

// markStored records that key, registered by checkpoint id, was uploaded.
// It does nothing if id no longer holds key: an upload that outlived its
// checkpoint proves nothing, since the file may be deleted since.
func (r *registry) markStored(id int64, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.holders[id]; h != nil && h.keys[key] {
		r.entries[key].stored = true
	}
}

// markMissing records that key was found missing from the store: the next
// checkpoint that needs it uploads it again.
func (r *registry) markMissing(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.entries[key]; e != nil {
		e.stored = false
	}
}

// complete closes checkpoint id to registrations: its references stay
// until release.
func (r *registry) complete(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.holders[id]; h != nil {
		h.open = false
	}
}

// hold makes id a closed holder of keys, which are taken as stored unless
// known missing. It is for complete checkpoints found in storage
// (checkpoint true) and savepoint copies (false). It does nothing if id
// already holds files.
func (r *registry) hold(id int64, keys []string, checkpoint bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.holders[id] != nil {
		return
	}
	h := &holder{keys: map[string]bool{}, checkpoint: checkpoint}
	r.holders[id] = h
	for _, k := range keys {
		if h.keys[k] {
			continue
		}
		e := r.entries[k]
		if e == nil {
			// A complete checkpoint's files are stored, as far as is
			// known; existence checks find those that are not.
			e = &entry{stored: true}
			r.entries[k] = e
		}
		h.keys[k] = true
		e.refs++
	}
}

// holds reports whether id is a holder.
func (r *registry) holds(id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holders[id] != nil
}

// release drops every reference of id: a failed checkpoint, an expired
// one, a finished savepoint copy.
func (r *registry) release(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releaseLocked(id)
}

func (r *registry) releaseLocked(id int64) {
	h := r.holders[id]
	if h == nil {
		return
	}
	delete(r.holders, id)
	for k := range h.keys {
		e := r.entries[k]
		e.refs--
		if e.refs == 0 && e.deleting == nil {
			delete(r.entries, k)
		}
	}
}

// releaseCompleteBefore releases the complete checkpoints older than id:
// those no longer in storage once id is the oldest retained one.
func (r *registry) releaseCompleteBefore(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for hid, h := range r.holders {
		if h.checkpoint && !h.open && hid < id {
			r.releaseLocked(hid)
		}
	}
}

// tryDelete reports whether key may be deleted now: no holder references
// it and no deletion of it is under way. If so, key is marked as being
// deleted, and registrations of it wait until deleted(key) is called.
func (r *registry) tryDelete(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries[key] != nil {
		return false
	}
	r.entries[key] = &entry{deleting: make(chan struct{})}
	return true
}

// deleted ends the deletion of key that tryDelete allowed, whether it
// succeeded or not: the file is not stored (as far as is known).
func (r *registry) deleted(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[key]
	if e == nil || e.deleting == nil {
		return
	}
	close(e.deleting)
	// Registrations waited; none holds key.
	delete(r.entries, key)
}

// size is the number of holders and of files tracked.
func (r *registry) size() (holders, files int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.holders), len(r.entries)
}
