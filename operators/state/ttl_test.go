package state_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tidemark/tidemark/operators/state"
)

func TestTTL(t *testing.T) {
	clock := newFakeClock()
	b := open(t, state.Options{Clock: clock.Now})
	v := state.NewValue(b, "op", "v", state.String{}, state.WithTTL(time.Minute))
	forever := state.NewValue(b, "op", "forever", state.String{})
	m := state.NewMap(b, "op", "m", state.String{}, state.String{}, state.WithTTL(time.Minute))
	l := state.NewList(b, "op", "l", state.String{}, state.WithTTL(time.Minute))
	key := []byte("k")

	must(t, v.Put(key, "a"))
	must(t, forever.Put(key, "f"))
	must(t, m.Put(key, "old", "x"))
	must(t, l.Add(key, "old"))
	clock.Advance(30 * time.Second)
	must(t, m.Put(key, "new", "y"))
	must(t, l.Add(key, "new"))
	if got, ok := get(t, v, "k"); !ok || got != "a" {
		t.Fatalf("before expiry: %q %v", got, ok)
	}

	clock.Advance(30 * time.Second) // "a", "old" and "x" expire now
	if _, ok := get(t, v, "k"); ok {
		t.Error("expired value read as present")
	}
	if got, ok := get(t, forever, "k"); !ok || got != "f" {
		t.Error("value without TTL expired")
	}
	if _, ok, _ := m.Get(key, "old"); ok {
		t.Error("expired map entry read as present")
	}
	var entries []string
	must(t, m.Range(key, func(k, _ string) bool { entries = append(entries, k); return true }))
	if !slices.Equal(entries, []string{"new"}) {
		t.Errorf("Range = %v", entries)
	}
	got, err := l.Get(key)
	must(t, err)
	if !slices.Equal(got, []string{"new"}) {
		t.Errorf("list = %v", got)
	}

	// A write renews the expiry.
	must(t, v.Put(key, "b"))
	clock.Advance(59 * time.Second)
	if got, ok := get(t, v, "k"); !ok || got != "b" {
		t.Errorf("rewritten value: %q %v", got, ok)
	}
	clock.Advance(time.Second)
	if _, ok := get(t, v, "k"); ok {
		t.Error("rewritten value did not expire")
	}
}

func TestPurgeExpired(t *testing.T) {
	clock := newFakeClock()
	b := open(t, state.Options{Clock: clock.Now})
	v := state.NewValue(b, "op", "v", state.Int64{}, state.WithTTL(time.Minute))
	forever := state.NewValue(b, "op", "forever", state.Int64{})
	m := state.NewMap(b, "op", "m", state.Int64{}, state.Int64{}, state.WithTTL(time.Minute))
	l := state.NewList(b, "op", "l", state.Int64{}, state.WithTTL(time.Minute))
	timers := state.NewTimers(b, "op")
	for i := range int64(10) {
		k := []byte{byte(i)}
		must(t, v.Put(k, i))
		must(t, forever.Put(k, i))
		must(t, m.Put(k, i, i))
		must(t, l.Add(k, i))
		must(t, timers.Register(state.EventTime, i, k))
	}
	must(t, b.Flush())
	clock.Advance(30 * time.Second)
	must(t, l.Add([]byte{0}, 100))        // half the list of key 0 lives on
	must(t, v.Put([]byte{1}, 1))          // renewed
	must(t, l.Add([]byte("fresh"), 1))    // a whole fresh list
	must(t, m.Put([]byte("fresh"), 1, 1)) // a fresh entry
	n, err := b.PurgeExpired()            // nothing expired yet
	if err != nil || n != 0 {
		t.Fatalf("early purge: %d %v", n, err)
	}
	clock.Advance(30 * time.Second)
	n, err = b.PurgeExpired()
	must(t, err)
	if want := 9 + 10 + 10; n != want {
		t.Errorf("purged %d, want %d", n, want)
	}
	live := map[string]bool{}
	must(t, b.Iterate(func(k, _ []byte) error { live[string(k)] = true; return nil }))
	// forever: 10, timers: 10, v[1], l[0] (one element), l[fresh], m[fresh],
	// and the max parallelism.
	if len(live) != 10+10+1+1+1+1+1 {
		t.Errorf("%d keys left after purge", len(live))
	}
	if got, err := l.Get([]byte{0}); err != nil || !slices.Equal(got, []int64{100}) {
		t.Errorf("list after purge: %v %v", got, err)
	}
	if got, ok := get(t, v, "\x01"); !ok || got != 1 {
		t.Errorf("renewed value: %d %v", got, ok)
	}
}
