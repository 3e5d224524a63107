package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// memStore keeps objects in a map. Object bytes are never modified after a
// Put, so readers share them without copying.
type memStore struct {
	mu      sync.RWMutex
	objects map[string]memObject
}

type memObject struct {
	data    []byte
	modTime time.Time
}

// memPreGrow bounds the buffer a Put allocates before reading: a wrong
// size must not allocate much.
const memPreGrow = 64 << 20

// NewMem returns an empty in-memory Store, for tests and for the embedded
// quickstart. Its contents go with it.
func NewMem() Store {
	return &memStore{objects: map[string]memObject{}}
}

func (m *memStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return m.put(ctx, "put", key, r, size, false)
}

func (m *memStore) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	return m.put(ctx, "put-if-absent", key, r, size, true)
}

func (m *memStore) put(ctx context.Context, op, key string, r io.Reader, size int64, ifAbsent bool) error {
	if err := begin(ctx, key, size); err != nil {
		return fmt.Errorf("storage: %s %q: %w", op, key, err)
	}
	var buf bytes.Buffer
	buf.Grow(int(min(size, memPreGrow)))
	if err := copyExact(&buf, ctxReader{ctx, r}, size); err != nil {
		return fmt.Errorf("storage: %s %q: %w", op, key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[key]; ok && ifAbsent {
		return fmt.Errorf("storage: %s %q: %w", op, key, ErrExists)
	}
	m.objects[key] = memObject{data: buf.Bytes(), modTime: time.Now()}
	return nil
}

func (m *memStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	o, err := m.lookup(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("storage: get %q: %w", key, err)
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

func (m *memStore) Stat(ctx context.Context, key string) (Info, error) {
	o, err := m.lookup(ctx, key)
	if err != nil {
		return Info{}, fmt.Errorf("storage: stat %q: %w", key, err)
	}
	return Info{Key: key, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

func (m *memStore) lookup(ctx context.Context, key string) (memObject, error) {
	if err := begin(ctx, key, 0); err != nil {
		return memObject{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	o, ok := m.objects[key]
	if !ok {
		return memObject{}, ErrNotFound
	}
	return o, nil
}

func (m *memStore) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage: list %q: %w", prefix, err)
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("storage: list %q: %w", prefix, err)
	}
	m.mu.RLock()
	infos := []Info{}
	for k, o := range m.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, Info{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(infos, compareKeys)
	return infos, nil
}

func (m *memStore) Delete(ctx context.Context, key string) error {
	if err := begin(ctx, key, 0); err != nil {
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	m.mu.Lock()
	delete(m.objects, key)
	m.mu.Unlock()
	return nil
}

func (m *memStore) Close() error { return nil }

// begin holds the checks every operation starts with: context, key, size.
func begin(ctx context.Context, key string, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	return checkSize(size)
}

func compareKeys(a, b Info) int { return strings.Compare(a.Key, b.Key) }
