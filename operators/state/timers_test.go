package state_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tidemark/tidemark/operators/state"
)

type timer struct {
	ts  int64
	key string
}

func compareTimers(a, b timer) int {
	return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.key, b.key))
}

// fireAll fires every timer of kind up to upTo and returns them in order.
func fireAll(t *testing.T, tm *state.Timers, kind state.TimerKind, upTo int64) []timer {
	t.Helper()
	var fired []timer
	must(t, tm.Fire(kind, upTo, func(ts int64, key []byte) error {
		fired = append(fired, timer{ts, string(key)})
		return nil
	}))
	return fired
}

func TestTimersOrder(t *testing.T) {
	b := open(t, state.Options{MaxParallelism: 16})
	tm := state.NewTimers(b, "op")
	var all []timer
	for i := range 300 {
		tr := timer{int64(i*7919%100) - 50, fmt.Sprintf("key-%d", i%37)}
		must(t, tm.Register(state.EventTime, tr.ts, []byte(tr.key)))
		if !slices.Contains(all, tr) {
			all = append(all, tr)
		}
	}
	must(t, tm.Register(state.ProcessingTime, -100, []byte("p")))
	must(t, state.NewTimers(b, "other").Register(state.EventTime, -100, []byte("o")))
	slices.SortFunc(all, compareTimers)

	if next, ok, err := tm.Next(state.EventTime); err != nil || !ok || next != all[0].ts {
		t.Errorf("Next = %d %v %v, want %d", next, ok, err, all[0].ts)
	}
	fired := fireAll(t, tm, state.EventTime, 0)
	n := slices.IndexFunc(all, func(tr timer) bool { return tr.ts > 0 })
	if !slices.Equal(fired, all[:n]) {
		t.Errorf("fired up to 0:\n%v\nwant\n%v", fired, all[:n])
	}
	if again := fireAll(t, tm, state.EventTime, 0); len(again) != 0 {
		t.Errorf("fired twice: %v", again)
	}
	must(t, b.Flush())
	if fired := fireAll(t, tm, state.EventTime, 1000); !slices.Equal(fired, all[n:]) {
		t.Errorf("fired the rest:\n%v\nwant\n%v", fired, all[n:])
	}
	if _, ok, _ := tm.Next(state.EventTime); ok {
		t.Error("Next after all fired")
	}
	// Other kinds and operators are untouched.
	if fired := fireAll(t, tm, state.ProcessingTime, 1000); !slices.Equal(fired, []timer{{-100, "p"}}) {
		t.Errorf("processing-time: %v", fired)
	}
	if fired := fireAll(t, state.NewTimers(b, "other"), state.EventTime, 1000); !slices.Equal(fired, []timer{{-100, "o"}}) {
		t.Errorf("other operator: %v", fired)
	}
}

// TestTimersModel runs random registrations, deletions and firings, with
// callbacks that register and delete timers themselves, against a sorted
// slice as the model.
func TestTimersModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := open(t, state.Options{MaxParallelism: 8, BatchSize: 4 << 10})
	tm := state.NewTimers(b, "op")
	var model []timer
	add := func(tr timer) {
		must(t, tm.Register(state.EventTime, tr.ts, []byte(tr.key)))
		if i, found := slices.BinarySearchFunc(model, tr, compareTimers); !found {
			model = slices.Insert(model, i, tr)
		}
	}
	del := func(tr timer) {
		must(t, tm.Delete(state.EventTime, tr.ts, []byte(tr.key)))
		if i, found := slices.BinarySearchFunc(model, tr, compareTimers); found {
			model = slices.Delete(model, i, i+1)
		}
	}
	randTimer := func(lo int64) timer {
		return timer{lo + rng.Int64N(50), fmt.Sprintf("k%d", rng.IntN(40))}
	}
	now := int64(0)
	for range 300 {
		switch rng.IntN(4) {
		case 0, 1:
			add(randTimer(now))
		case 2:
			if len(model) > 0 && rng.IntN(2) == 0 {
				del(model[rng.IntN(len(model))])
			} else {
				del(randTimer(now))
			}
		case 3:
			now += rng.Int64N(20)
			fired := 0
			must(t, tm.Fire(state.EventTime, now, func(ts int64, key []byte) error {
				got := timer{ts, string(key)}
				if len(model) == 0 || model[0] != got || got.ts > now {
					t.Fatalf("fired %v, model expects %v (now %d)", got, model[:min(1, len(model))], now)
				}
				model = model[1:]
				fired++
				switch rng.IntN(6) {
				case 0: // a timer that is already due
					add(timer{ts + rng.Int64N(3), fmt.Sprintf("k%d", rng.IntN(40))})
				case 1: // one in the past
					add(timer{ts - 1, "late"})
				case 2:
					add(randTimer(now))
				case 3:
					if len(model) > 0 {
						del(model[rng.IntN(len(model))])
					}
				}
				return nil
			}))
			if len(model) > 0 && model[0].ts <= now {
				t.Fatalf("after Fire(%d), %v is still due", now, model[0])
			}
			next, ok, err := tm.Next(state.EventTime)
			must(t, err)
			if ok != (len(model) > 0) || ok && next != model[0].ts {
				t.Fatalf("Next = %d %v, model %v", next, ok, model[:min(1, len(model))])
			}
		}
	}
	rest := fireAll(t, tm, state.EventTime, 1<<62)
	if !slices.Equal(rest, model) {
		t.Errorf("remaining timers %v, model %v", rest, model)
	}
}

func TestTimersFireError(t *testing.T) {
	b := open(t, state.Options{})
	tm := state.NewTimers(b, "op")
	for i := range int64(3) {
		must(t, tm.Register(state.EventTime, i, []byte("k")))
	}
	boom := errors.New("boom")
	err := tm.Fire(state.EventTime, 10, func(ts int64, _ []byte) error {
		if ts == 1 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Fire = %v", err)
	}
	if rest := fireAll(t, tm, state.EventTime, 10); !slices.Equal(rest, []timer{{2, "k"}}) {
		t.Errorf("after error: %v", rest)
	}
}

func TestTimersSurviveCheckpoint(t *testing.T) {
	b := open(t, state.Options{})
	tm := state.NewTimers(b, "op")
	var want []timer
	for i := range 100 {
		tr := timer{int64(100 - i), fmt.Sprintf("key-%d", i)}
		must(t, tm.Register(state.EventTime, tr.ts, []byte(tr.key)))
		want = append(want, tr)
	}
	must(t, tm.Register(state.ProcessingTime, 7, []byte("p")))
	slices.SortFunc(want, compareTimers)
	if fired := fireAll(t, tm, state.EventTime, 10); !slices.Equal(fired, want[:10]) {
		t.Fatalf("fired %v", fired)
	}
	dir := filepath.Join(t.TempDir(), "chk-1")
	_, err := b.Checkpoint(dir)
	must(t, err)
	// Fired after the checkpoint: must fire again after a restore.
	if fired := fireAll(t, tm, state.EventTime, 20); !slices.Equal(fired, want[10:20]) {
		t.Fatalf("fired %v", fired)
	}

	r := restore(t, dir, state.Options{})
	rt := state.NewTimers(r, "op")
	if next, ok, err := rt.Next(state.EventTime); err != nil || !ok || next != 11 {
		t.Errorf("restored Next = %d %v %v", next, ok, err)
	}
	if fired := fireAll(t, rt, state.EventTime, 1000); !slices.Equal(fired, want[10:]) {
		t.Errorf("restored timers fired %v, want %v", fired, want[10:])
	}
	if fired := fireAll(t, rt, state.ProcessingTime, 1000); !slices.Equal(fired, []timer{{7, "p"}}) {
		t.Errorf("restored processing-time timers: %v", fired)
	}
}

// TestTimersKeyOrderWithinTimestamp checks the key tie-break across key
// groups.
func TestTimersKeyOrderWithinTimestamp(t *testing.T) {
	b := open(t, state.Options{})
	tm := state.NewTimers(b, "op")
	var ks [][]byte
	for i := range 50 {
		ks = append(ks, []byte(fmt.Sprintf("%03d", 49-i)))
	}
	for _, k := range ks {
		must(t, tm.Register(state.ProcessingTime, 5, k))
	}
	slices.SortFunc(ks, bytes.Compare)
	fired := fireAll(t, tm, state.ProcessingTime, 5)
	for i, tr := range fired {
		if tr.key != string(ks[i]) {
			t.Fatalf("fired[%d] = %v, want key %s", i, tr, ks[i])
		}
	}
}
