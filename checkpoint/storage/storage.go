package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors that callers branch on; implementations wrap them.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("storage: object not found")
	// ErrExists: PutIfAbsent found the object already there.
	ErrExists = errors.New("storage: object already exists")
	// ErrInvalidKey: the key (or the directory part of a List prefix) breaks
	// the key rules of [ValidateKey].
	ErrInvalidKey = errors.New("storage: invalid key")
	// ErrSizeMismatch: the reader given to Put or PutIfAbsent yielded fewer
	// or more bytes than the size given with it.
	ErrSizeMismatch = errors.New("storage: size mismatch")
)

// Info describes a stored object.
type Info struct {
	// Key is the object's full key, relative to the store's root.
	Key string
	// Size is the object's length in bytes.
	Size int64
	// ModTime is when the object was last written, as the backend reports
	// it (S3 rounds to the second).
	ModTime time.Time
}

// Store is a flat namespace of immutable-by-convention objects addressed by
// slash-separated keys relative to the store's root (a directory or an S3
// bucket and prefix). A Store is safe for concurrent use.
//
// Keys: see [ValidateKey]; an operation on an invalid key fails with an
// error wrapping ErrInvalidKey. Portable keys also never use one key as the
// directory of another ("a" and "a/b"): a directory store cannot hold both.
//
// Visibility: an object becomes visible to Get, Stat and List only once the
// Put that writes it has returned nil, and then whole: no reader ever sees a
// partial object, even if the writer crashed mid-way. A Put that failed may
// leave nothing, or (only on stores without atomic overwrite) the previous
// object; never a torn one. A Put that returned an error may nevertheless
// have written the object when the error came after the store committed it
// (a lost response): callers that retry must tolerate that.
//
// Every operation fails, with an error wrapping ctx.Err(), if ctx is done
// before it starts, and an operation under way stops when ctx ends.
type Store interface {
	// Put writes the object key with the size bytes read from r, replacing
	// any object of that key. It fails with an error wrapping
	// ErrSizeMismatch if r yields fewer or more than size bytes (it reads
	// one byte past size to tell), and with the reader's error if reading
	// fails; either way nothing new becomes visible.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// PutIfAbsent is Put that fails with an error wrapping ErrExists if the
	// object already exists, atomically: of two concurrent PutIfAbsent calls
	// of one key at most one succeeds (S3 If-None-Match: *, link(2) on
	// files).
	PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the object for reading; the caller must Close it. A missing
	// object is an error wrapping ErrNotFound. Reading may fail once ctx
	// ends (S3 streams the body over the request's connection).
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes the object; a missing object is an error wrapping
	// ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// List returns every object whose key starts with prefix, sorted by key
	// (byte order). A prefix is a plain string prefix, not only a
	// directory: "chk-1" matches "chk-1/x" and "chk-10/x". The empty prefix
	// lists everything. The part of prefix up to its last slash must be a
	// valid key.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes the object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// Close releases the store's resources. It is idempotent; a Store is
	// not used after Close.
	Close() error
}
