package state_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/tidemark/tidemark/operators/state"
)

// cacheSide is one backend of the equivalence test and its states.
type cacheSide struct {
	b      *state.Backend
	counts *state.Value[int64]
	ttl    *state.Value[string]
	other  *state.Value[int64] // another operator's
	m      *state.Map[string, int64]
	l      *state.List[string]
}

func newCacheSide(b *state.Backend, cached bool) *cacheSide {
	if !cached {
		state.WithoutValueCache(b)
	}
	return &cacheSide{
		b:      b,
		counts: state.NewValue(b, "count", "n", state.Int64{}),
		ttl:    state.NewValue(b, "count", "t", state.String{}, state.WithTTL(10*time.Second)),
		other:  state.NewValue(b, "other", "n", state.Int64{}),
		m:      state.NewMap(b, "count", "m", state.String{}, state.Int64{}, state.WithTTL(7*time.Second)),
		l:      state.NewList(b, "count", "l", state.String{}),
	}
}

// TestValueCacheEquivalence runs random operations on a backend with the
// value cache and on one without (the batch-only path it replaces), and
// checks that every read, every scan (Iterate, CountKeys, Map.Range with
// writes in its callback), every PurgeExpired and every checkpoint
// (taken mid-stream, with dirty cached writes, then restored, and writes
// made after it dropped) agree byte for byte. A small BatchSize makes the
// cache reach its bound and flush on its own.
func TestValueCacheEquivalence(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			clock := newFakeClock()
			opts := state.Options{Clock: clock.Now, MaxParallelism: 16, BatchSize: []int{0, 2048, 512, 64 << 10}[seed]}
			sides := [2]*cacheSide{newCacheSide(open(t, opts), true), newCacheSide(open(t, opts), false)}
			key := func() []byte { return fmt.Appendf(nil, "k%d", rng.IntN(60)) }
			each := func(what string, fn func(s *cacheSide) (string, error)) {
				t.Helper()
				var got [2]string
				for i, s := range sides {
					out, err := fn(s)
					if err != nil {
						t.Fatalf("%s (side %d): %v", what, i, err)
					}
					got[i] = out
				}
				if got[0] != got[1] {
					t.Fatalf("%s: cached %q, uncached %q", what, got[0], got[1])
				}
			}
			for step := range 2000 {
				k := key()
				what := fmt.Sprintf("step %d", step)
				switch op := rng.IntN(100); {
				case op < 35:
					each(what+" count", func(s *cacheSide) (string, error) {
						n, ok, err := s.counts.Get(k)
						if err != nil {
							return "", err
						}
						return fmt.Sprint(n, ok), s.counts.Put(k, n+1)
					})
				case op < 45:
					v := fmt.Sprint(rng.IntN(1000))
					each(what+" ttl put", func(s *cacheSide) (string, error) { return "", s.ttl.Put(k, v) })
				case op < 55:
					each(what+" ttl get", func(s *cacheSide) (string, error) {
						v, ok, err := s.ttl.Get(k)
						return fmt.Sprint(v, ok), err
					})
				case op < 60:
					each(what+" delete", func(s *cacheSide) (string, error) {
						if err := s.counts.Delete(k); err != nil {
							return "", err
						}
						return "", s.ttl.Delete(k)
					})
				case op < 65:
					each(what+" other", func(s *cacheSide) (string, error) { return "", s.other.Put(k, int64(step)) })
				case op < 70:
					clock.Advance(time.Duration(rng.IntN(3000)) * time.Millisecond)
				case op < 75:
					each(what+" map put", func(s *cacheSide) (string, error) {
						if err := s.m.Put(k, fmt.Sprint(step%5), int64(step)); err != nil {
							return "", err
						}
						return "", s.l.Add(k, fmt.Sprint(step))
					})
				case op < 80:
					// The callback writes Value state while the iterator is
					// open, and reads it back.
					each(what+" map range", func(s *cacheSide) (string, error) {
						var out string
						var ferr error
						err := s.m.Range(k, func(mk string, v int64) bool {
							if ferr = s.counts.Put([]byte(mk), v); ferr != nil {
								return false
							}
							n, ok, err := s.counts.Get([]byte(mk))
							ferr = err
							out += fmt.Sprint(mk, v, n, ok)
							return ferr == nil
						})
						if err == nil {
							err = ferr
						}
						return out, err
					})
				case op < 83:
					each(what+" purge", func(s *cacheSide) (string, error) {
						n, err := s.b.PurgeExpired()
						return fmt.Sprint(n), err
					})
				case op < 86:
					each(what+" dump", func(s *cacheSide) (string, error) { return dump(t, s.b), nil })
				case op < 88:
					each(what+" count keys", func(s *cacheSide) (string, error) {
						c, err := s.b.CountKeys()
						return fmt.Sprintf("%+v", c), err
					})
				case op < 91:
					each(what+" flush", func(s *cacheSide) (string, error) { return "", s.b.Flush() })
				case op < 92:
					// Checkpoint mid-stream, write on, then restore the
					// checkpoint: it holds every write before it and none
					// after.
					var at [2]string
					var dirs [2]string
					for i, s := range sides {
						at[i] = dump(t, s.b)
						dirs[i] = filepath.Join(t.TempDir(), "chk")
						if _, err := s.b.Checkpoint(dirs[i]); err != nil {
							t.Fatal(err)
						}
						must(t, s.counts.Put(k, -1))
						must(t, s.ttl.Put(k, "after"))
					}
					for i, s := range sides {
						r := restore(t, dirs[i], opts)
						sides[i] = newCacheSide(r, s == sides[0])
						if got := dump(t, r); got != at[i] {
							t.Fatalf("%s: side %d restored\n%s\nwant the state at the checkpoint\n%s", what, i, got, at[i])
						}
					}
					if at[0] != at[1] {
						t.Fatalf("%s: checkpoints differ", what)
					}
				}
			}
			each("end", func(s *cacheSide) (string, error) { return dump(t, s.b), nil })
		})
	}
}

// TestValueCacheBounded writes many distinct keys and checks that the
// cache stays within about its bound (Options.BatchSize) while every value
// stays readable.
func TestValueCacheBounded(t *testing.T) {
	const bound = 16 << 10
	b := open(t, state.Options{BatchSize: bound})
	v := state.NewValue(b, "op", "v", state.Int64{})
	peak := 0
	for i := range 5000 {
		must(t, v.Put(fmt.Appendf(nil, "key-%d", i), int64(i)))
		peak = max(peak, state.ValueCacheBytes(b))
	}
	if peak > bound+256 {
		t.Errorf("cache grew to %d bytes, bound %d", peak, bound)
	}
	for i := range 5000 {
		if n, ok := get(t, v, fmt.Sprintf("key-%d", i)); !ok || n != int64(i) {
			t.Fatalf("key-%d: %d %v", i, n, ok)
		}
	}
	if peak := state.ValueCacheBytes(b); peak > bound+256 {
		t.Errorf("cache grew to %d bytes reading, bound %d", peak, bound)
	}
}

// TestValueCacheScansSeeWrites checks that a scan right after a write
// (no Flush) sees it, and a delete, in Iterate and CountKeys.
func TestValueCacheScansSeeWrites(t *testing.T) {
	b := open(t, state.Options{})
	v := state.NewValue(b, "op", "v", state.String{})
	must(t, v.Put([]byte("a"), "1"))
	must(t, v.Put([]byte("b"), "2"))
	if n := len(keys(t, b)); n != 3 { // two values and the backend's own key
		t.Fatalf("Iterate saw %d keys, want 3", n)
	}
	must(t, v.Delete([]byte("a")))
	c, err := b.CountKeys()
	must(t, err)
	if len(c.Operators) != 1 || c.Operators[0].Values != 1 {
		t.Fatalf("CountKeys after a delete: %+v, want 1 value", c)
	}
}
