package state_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/operators/state"
)

// timerModel is the documented behaviour of Timers: per operator and kind,
// a set of (ts, key) that fires in ascending (ts, key) order.
type timerModel map[string][]timer // by op + kind

func modelID(op string, kind state.TimerKind) string { return op + "/" + string(rune(kind)) }

func (m timerModel) add(id string, tr timer) {
	s := m[id]
	if i, found := slices.BinarySearchFunc(s, tr, compareTimers); !found {
		m[id] = slices.Insert(s, i, tr)
	}
}

func (m timerModel) del(id string, tr timer) {
	s := m[id]
	if i, found := slices.BinarySearchFunc(s, tr, compareTimers); found {
		m[id] = slices.Delete(s, i, i+1)
	}
}

func (m timerModel) clone() timerModel {
	c := timerModel{}
	for id, s := range m {
		c[id] = slices.Clone(s)
	}
	return c
}

// equivTask is one task of the equivalence test: a backend and its key
// groups.
type equivTask struct {
	b *state.Backend
	r state.KeyGroupRange
}

// TestTimersEquivalence runs a seeded random schedule of registrations,
// deletions, firings (whose callbacks register and delete timers, some of
// them already due), flushes, checkpoints, restores of an older checkpoint
// (timers fired after it fire again) and rescaled restores (another number
// of tasks), over two operators and both kinds, with small and default
// in-memory queues, and checks every fired timer, every Next and the final
// timers against a model: per task, the model's timers of its key groups in
// (ts, key) order, exactly what the store-scanning Timers fired before the
// in-memory queues.
func TestTimersEquivalence(t *testing.T) {
	for _, cache := range []int{1, 3, 128} {
		for seed := range uint64(2) {
			t.Run(fmt.Sprintf("cache%d/seed%d", cache, seed), func(t *testing.T) {
				state.SetTimerCacheSize(t, cache)
				runTimersEquivalence(t, seed, cache)
			})
		}
	}
}

func runTimersEquivalence(t *testing.T, seed uint64, cache int) {
	const mp = 16
	rng := rand.New(rand.NewPCG(seed, uint64(cache)))
	ops := []string{"a", "b"}
	kinds := []state.TimerKind{state.EventTime, state.ProcessingTime}
	openTask := func(r state.KeyGroupRange) *state.Backend {
		return open(t, state.Options{MaxParallelism: mp, KeyGroups: r, BatchSize: 2 << 10})
	}
	tasks := []equivTask{}
	for i := range 2 {
		r := kgRange(i, mp, 2)
		tasks = append(tasks, equivTask{openTask(r), r})
	}
	owner := func(key string) int {
		kg := state.KeyGroup([]byte(key), mp)
		for i, tk := range tasks {
			if tk.r.Contains(kg) {
				return i
			}
		}
		t.Fatalf("no task holds key group %d of %q", kg, key)
		return -1
	}
	model := timerModel{}
	randKey := func() string { return fmt.Sprintf("k%d", rng.IntN(60)) }
	register := func(op string, kind state.TimerKind, tr timer) {
		tk := tasks[owner(tr.key)]
		must(t, state.NewTimers(tk.b, op).Register(kind, tr.ts, []byte(tr.key)))
		model.add(modelID(op, kind), tr)
	}
	remove := func(op string, kind state.TimerKind, tr timer) {
		tk := tasks[owner(tr.key)]
		must(t, state.NewTimers(tk.b, op).Delete(kind, tr.ts, []byte(tr.key)))
		model.del(modelID(op, kind), tr)
	}
	// due returns the model's timers of task i of op and kind.
	due := func(i int, id string) []timer {
		var out []timer
		for _, tr := range model[id] {
			if tasks[i].r.Contains(state.KeyGroup([]byte(tr.key), mp)) {
				out = append(out, tr)
			}
		}
		return out
	}
	checkNext := func(step int) {
		for i, tk := range tasks {
			for _, op := range ops {
				for _, kind := range kinds {
					want := due(i, modelID(op, kind))
					next, ok, err := state.NewTimers(tk.b, op).Next(kind)
					must(t, err)
					if ok != (len(want) > 0) || ok && next != want[0].ts {
						t.Fatalf("step %d: task %d %s %s: Next = %d %v, model %v", step, i, op, kind, next, ok, want[:min(1, len(want))])
					}
				}
			}
		}
	}
	type saved struct {
		srcs  []state.RescaleSource
		model timerModel
	}
	var chk *saved
	checkpoint := func() *saved {
		s := &saved{model: model.clone()}
		for _, tk := range tasks {
			dir := filepath.Join(t.TempDir(), "chk")
			_, err := tk.b.Checkpoint(dir)
			must(t, err)
			s.srcs = append(s.srcs, state.RescaleSource{Dir: dir, KeyGroups: tk.r})
		}
		return s
	}
	restoreFrom := func(s *saved, n int) {
		for _, tk := range tasks {
			must(t, tk.b.Close())
		}
		tasks = tasks[:0]
		for i := range n {
			r := kgRange(i, mp, n)
			opts := state.Options{MaxParallelism: mp, KeyGroups: r, BatchSize: 2 << 10, Logger: zaptest.NewLogger(t)}
			var b *state.Backend
			var err error
			if n == len(s.srcs) {
				b, err = state.OpenFrom(s.srcs[i].Dir, filepath.Join(t.TempDir(), "live"), opts)
			} else {
				b, _, err = state.OpenRescaled(s.srcs, filepath.Join(t.TempDir(), "work"), filepath.Join(t.TempDir(), "live"), opts)
			}
			must(t, err)
			t.Cleanup(func() { _ = b.Close() })
			tasks = append(tasks, equivTask{b, r})
		}
		model = s.model.clone()
	}

	now := int64(0)
	fired, restores, rescales := 0, 0, 0
	for step := range 800 {
		op, kind := ops[rng.IntN(2)], kinds[rng.IntN(2)]
		id := modelID(op, kind)
		switch p := rng.IntN(100); {
		case p < 45:
			register(op, kind, timer{now + rng.Int64N(40), randKey()})
		case p < 60:
			if s := model[id]; len(s) > 0 && rng.IntN(3) > 0 {
				remove(op, kind, s[rng.IntN(len(s))])
			} else {
				remove(op, kind, timer{now + rng.Int64N(40), randKey()})
			}
		case p < 85:
			now += rng.Int64N(8)
			for i, tk := range tasks {
				err := state.NewTimers(tk.b, op).Fire(kind, now, func(ts int64, key []byte) error {
					got := timer{ts, string(key)}
					want := due(i, id)
					if len(want) == 0 || want[0] != got || ts > now {
						t.Fatalf("step %d: task %d %s %s fired %v, model %v (now %d)", step, i, op, kind, got, want[:min(1, len(want))], now)
					}
					model.del(id, got)
					fired++
					// Callbacks change timers of their own task, of this and
					// the other operator and kind.
					k := randKey()
					if owner(k) != i {
						return nil
					}
					switch rng.IntN(8) {
					case 0: // due in this very call
						register(op, kind, timer{ts + rng.Int64N(3), k})
					case 1: // in the past
						register(op, kind, timer{ts - 1 - rng.Int64N(3), k})
					case 2:
						register(ops[rng.IntN(2)], kinds[rng.IntN(2)], timer{now + rng.Int64N(40), k})
					case 3:
						if w := due(i, id); len(w) > 0 {
							remove(op, kind, w[rng.IntN(len(w))])
						}
					}
					return nil
				})
				must(t, err)
				if w := due(i, id); len(w) > 0 && w[0].ts <= now {
					t.Fatalf("step %d: after Fire(%d) task %d %s %s still has %v due", step, now, i, op, kind, w[0])
				}
			}
		case p < 94:
			must(t, tasks[rng.IntN(len(tasks))].b.Flush())
		case p < 97:
			chk = checkpoint()
			if rng.IntN(2) == 0 {
				n := 1 + rng.IntN(4)
				if n != len(tasks) {
					rescales++
				}
				restoreFrom(chk, n)
				restores++
			}
		case p == 99:
			if chk != nil {
				// Back to the last checkpoint: what happened since is lost,
				// timers fired since fire again.
				restoreFrom(chk, len(chk.srcs))
				restores++
			}
		}
		checkNext(step)
	}
	for i, tk := range tasks {
		for _, op := range ops {
			for _, kind := range kinds {
				rest := fireAll(t, state.NewTimers(tk.b, op), kind, 1<<62)
				if want := due(i, modelID(op, kind)); !slices.Equal(rest, want) {
					t.Fatalf("task %d %s %s: remaining timers\n%v\nmodel\n%v", i, op, kind, rest, want)
				}
			}
		}
	}
	if fired < 100 || restores < 3 || rescales < 1 {
		t.Fatalf("schedule too tame: %d fired, %d restores, %d rescales", fired, restores, rescales)
	}
	t.Logf("%d timers fired, %d restores (%d rescaled)", fired, restores, rescales)
}
