package faulty

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemark/tidemark/checkpoint/storage"
)

// ErrInjected is wrapped by every error this package injects.
var ErrInjected = errors.New("faulty: injected fault")

// Store is a storage.Store that passes calls to an inner store, injecting
// the faults of its armed rules and the latency set for each operation, and
// counting calls. It is safe for concurrent use; rules and latencies may
// change while calls run.
type Store struct {
	inner storage.Store
	calls [numOps]atomic.Int64

	mu      sync.Mutex // guards the fields below
	rng     *rand.Rand
	rules   []*Injection
	latency [numOps]time.Duration
}

var _ storage.Store = (*Store)(nil)

// Option configures New.
type Option func(*Store)

// WithSeed seeds the random source of Probability triggers. Default 1.
func WithSeed(seed uint64) Option {
	return func(s *Store) { s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// WithRule arms r from the start, as Inject does.
func WithRule(r Rule) Option {
	return func(s *Store) { s.Inject(r) }
}

// WithLatency delays every call of ops by d before it goes on, as
// SetLatency does. Default none.
func WithLatency(ops Op, d time.Duration) Option {
	return func(s *Store) { s.SetLatency(ops, d) }
}

// New wraps inner. Close closes inner.
func New(inner storage.Store, opts ...Option) *Store {
	s := &Store{inner: inner}
	WithSeed(1)(s)
	for _, o := range opts {
		o(s)
	}
	return s
}

// Inject arms a rule and returns it, to disarm it or read its counts.
// Rules are checked in the order they were armed; the first that fires
// decides a call's fault, and the rules after it do not see that call.
func (s *Store) Inject(r Rule) *Injection {
	if r.Ops == 0 {
		r.Ops = OpAll
	}
	if r.When == nil {
		r.When = Always()
	}
	in := &Injection{rule: r, armed: true}
	s.mu.Lock()
	s.rules = append(s.rules, in)
	s.mu.Unlock()
	return in
}

// DisarmAll disarms every rule: the store passes calls through unharmed
// (latency aside) from now on.
func (s *Store) DisarmAll() {
	s.mu.Lock()
	rules := s.rules
	s.rules = nil
	s.mu.Unlock()
	for _, in := range rules {
		in.Disarm()
	}
}

// SetLatency delays every later call of ops by d (zero: none). The wait
// ends early, failing the call, if the call's context ends.
func (s *Store) SetLatency(ops Op, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range numOps {
		if ops&(1<<i) != 0 {
			s.latency[i] = d
		}
	}
}

// Calls is how many calls of ops the store has seen, faulty or not.
func (s *Store) Calls(ops Op) int64 {
	var n int64
	for i := range numOps {
		if ops&(1<<i) != 0 {
			n += s.calls[i].Load()
		}
	}
	return n
}

// enter counts a call, waits out its latency and returns the rule that
// fires for it, if any.
func (s *Store) enter(ctx context.Context, op Op, key string) (*Injection, error) {
	i := op.index()
	s.calls[i].Add(1)
	s.mu.Lock()
	d := s.latency[i]
	s.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("faulty: %s %q: during injected latency: %w", op, key, ctx.Err())
		case <-t.C:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.rules {
		if in.check(op, key, s.rng) {
			return in, nil
		}
	}
	return nil, nil
}

// fault is the error a rule injects into a call.
func fault(op Op, key string, in *Injection) error {
	if in.rule.Err != nil {
		return fmt.Errorf("faulty: %s %q: %w: %w", op, key, ErrInjected, in.rule.Err)
	}
	return fmt.Errorf("faulty: %s %q: %w", op, key, ErrInjected)
}

// Put is the inner store's Put, with faults.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return s.put(ctx, OpPut, key, r, size, s.inner.Put)
}

// PutIfAbsent is the inner store's PutIfAbsent, with faults.
func (s *Store) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	return s.put(ctx, OpPutIfAbsent, key, r, size, s.inner.PutIfAbsent)
}

func (s *Store) put(ctx context.Context, op Op, key string, r io.Reader, size int64,
	put func(context.Context, string, io.Reader, int64) error) error {
	in, err := s.enter(ctx, op, key)
	if err != nil {
		return err
	}
	if in == nil {
		return put(ctx, key, r, size)
	}
	switch in.rule.Effect.kind {
	case kindAfter:
		if err := put(ctx, key, r, size); err != nil {
			return err
		}
		return fault(op, key, in)
	case kindBreakStream:
		// Break no later than at the end, where the store checks for EOF.
		n := min(in.rule.Effect.bytes, max(size, 0))
		broken := fmt.Errorf("stream broken after %d bytes: %w", n, fault(op, key, in))
		err := put(ctx, key, &breakingReader{r: r, left: n, err: broken}, size)
		if err == nil {
			return fmt.Errorf("faulty: %s %q: the inner store accepted an object whose reader failed after %d of %d bytes", op, key, n, size)
		}
		if !errors.Is(err, ErrInjected) {
			err = errors.Join(err, broken)
		}
		return err
	}
	return fault(op, key, in)
}

// Get is the inner store's Get, with faults.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	in, err := s.enter(ctx, OpGet, key)
	if err != nil {
		return nil, err
	}
	if in == nil {
		return s.inner.Get(ctx, key)
	}
	if in.rule.Effect.kind == kindBefore {
		return nil, fault(OpGet, key, in)
	}
	rc, err := s.inner.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if in.rule.Effect.kind == kindAfter {
		rc.Close()
		return nil, fault(OpGet, key, in)
	}
	n := in.rule.Effect.bytes
	return &breakingReadCloser{
		breakingReader: breakingReader{r: rc, left: n, err: fmt.Errorf("stream broken after %d bytes: %w", n, fault(OpGet, key, in))},
		c:              rc,
	}, nil
}

// Stat is the inner store's Stat, with faults.
func (s *Store) Stat(ctx context.Context, key string) (storage.Info, error) {
	var info storage.Info
	err := s.simple(ctx, OpStat, key, func() (err error) {
		info, err = s.inner.Stat(ctx, key)
		return err
	})
	if err != nil {
		return storage.Info{}, err
	}
	return info, nil
}

// List is the inner store's List, with faults; rules see the prefix as
// the key.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.Info, error) {
	var infos []storage.Info
	err := s.simple(ctx, OpList, prefix, func() (err error) {
		infos, err = s.inner.List(ctx, prefix)
		return err
	})
	if err != nil {
		return nil, err
	}
	return infos, nil
}

// Delete is the inner store's Delete, with faults.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.simple(ctx, OpDelete, key, func() error { return s.inner.Delete(ctx, key) })
}

// simple runs an operation without a data stream: BreakStream acts as
// FailBefore.
func (s *Store) simple(ctx context.Context, op Op, key string, call func() error) error {
	in, err := s.enter(ctx, op, key)
	if err != nil {
		return err
	}
	if in == nil {
		return call()
	}
	if in.rule.Effect.kind == kindAfter {
		if err := call(); err != nil {
			return err
		}
	}
	return fault(op, key, in)
}

// Close closes the inner store.
func (s *Store) Close() error { return s.inner.Close() }

// breakingReader passes left bytes of r through, then fails with err.
type breakingReader struct {
	r    io.Reader
	left int64
	err  error
}

func (b *breakingReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

type breakingReadCloser struct {
	breakingReader
	c io.Closer
}

func (b *breakingReadCloser) Close() error { return b.c.Close() }
