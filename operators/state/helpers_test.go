package state_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/operators/state"
)

// fakeClock is a settable clock for TTL tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// open opens a backend in a fresh directory that the test closes.
func open(t testing.TB, opts state.Options) *state.Backend {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	b, err := state.Open(filepath.Join(t.TempDir(), "live"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// restore restores checkpoint dir into a fresh directory that the test
// closes.
func restore(t testing.TB, dir string, opts state.Options) *state.Backend {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	b, err := state.OpenFrom(dir, filepath.Join(t.TempDir(), "restored"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// dump returns every key and value of b, one per line, in hex.
func dump(t testing.TB, b *state.Backend) string {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Iterate(func(k, v []byte) error {
		fmt.Fprintf(&buf, "%x=%x\n", k, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// keys returns the keys of b.
func keys(t testing.TB, b *state.Backend) [][]byte {
	t.Helper()
	var ks [][]byte
	if err := b.Iterate(func(k, _ []byte) error {
		ks = append(ks, append([]byte{}, k...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ks
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get[T any](t testing.TB, v *state.Value[T], key string) (T, bool) {
	t.Helper()
	val, ok, err := v.Get([]byte(key))
	must(t, err)
	return val, ok
}
