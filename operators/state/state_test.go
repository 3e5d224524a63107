package state_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tidemark/tidemark/operators/state"
)

type point struct {
	X, Y int
}

func TestValueRoundTrip(t *testing.T) {
	b := open(t, state.Options{})
	ints := state.NewValue(b, "op", "ints", state.Int64{})
	strs := state.NewValue(b, "op", "strs", state.String{})
	raw := state.NewValue(b, "op", "raw", state.Bytes{})
	pts := state.NewValue(b, "op", "pts", state.JSON[point]{})

	if _, ok := get(t, ints, "k"); ok {
		t.Fatal("value before Put")
	}
	for _, n := range []int64{0, -1, 1 << 62, -1 << 63} {
		must(t, ints.Put([]byte("k"), n))
		if got, ok := get(t, ints, "k"); !ok || got != n {
			t.Errorf("Int64: got %d %v, want %d", got, ok, n)
		}
	}
	must(t, strs.Put([]byte("k"), "héllo"))
	must(t, raw.Put([]byte("k"), []byte{0, 1, 2}))
	must(t, pts.Put([]byte("k"), point{3, 4}))
	must(t, b.Flush())
	if got, _ := get(t, strs, "k"); got != "héllo" {
		t.Errorf("String: %q", got)
	}
	if got, _ := get(t, raw, "k"); string(got) != "\x00\x01\x02" {
		t.Errorf("Bytes: %x", got)
	}
	if got, _ := get(t, pts, "k"); got != (point{3, 4}) {
		t.Errorf("JSON: %+v", got)
	}
	// Empty values are values.
	must(t, strs.Put([]byte("e"), ""))
	if _, ok := get(t, strs, "e"); !ok {
		t.Error("empty string read as absent")
	}
	must(t, ints.Delete([]byte("k")))
	if _, ok := get(t, ints, "k"); ok {
		t.Error("value after Delete")
	}
}

func TestIsolation(t *testing.T) {
	b := open(t, state.Options{})
	// Names chosen so that naive concatenation would collide.
	a := state.NewValue(b, "op", "ab", state.String{})
	a2 := state.NewValue(b, "opa", "b", state.String{})
	a3 := state.NewValue(b, "op", "a", state.String{})
	other := state.NewValue(b, "other", "ab", state.String{})
	m := state.NewMap(b, "op", "ab", state.String{}, state.String{})
	must(t, a.Put([]byte("k"), "a"))
	must(t, a2.Put([]byte("k"), "a2"))
	must(t, a3.Put([]byte("bk"), "a3"))
	must(t, other.Put([]byte("k"), "other"))
	must(t, m.Put([]byte("k"), "", "map"))
	for _, c := range []struct {
		v    *state.Value[string]
		key  string
		want string
	}{{a, "k", "a"}, {a2, "k", "a2"}, {a3, "bk", "a3"}, {other, "k", "other"}} {
		if got, ok := get(t, c.v, c.key); !ok || got != c.want {
			t.Errorf("got %q %v, want %q", got, ok, c.want)
		}
	}
	for _, c := range []struct {
		v   *state.Value[string]
		key string
	}{{a, "kk"}, {a, "bk"}, {a3, "k"}, {a3, "b"}, {other, "bk"}} {
		if got, ok := get(t, c.v, c.key); ok {
			t.Errorf("key %q: unexpected %q", c.key, got)
		}
	}
	// A map with a key that is a prefix of another map's key.
	must(t, m.Put([]byte("kk"), "x", "other map"))
	var seen []string
	must(t, m.Range([]byte("k"), func(k, v string) bool {
		seen = append(seen, k+"="+v)
		return true
	}))
	if !slices.Equal(seen, []string{"=map"}) {
		t.Errorf("Range(k) = %q", seen)
	}
	// The same state created twice is the same state.
	if got, _ := get(t, state.NewValue(b, "op", "ab", state.String{}), "k"); got != "a" {
		t.Errorf("recreated state: %q", got)
	}
}

func TestMapRoundTrip(t *testing.T) {
	b := open(t, state.Options{})
	m := state.NewMap(b, "op", "m", state.Int64{}, state.String{})
	key := []byte("k")
	for _, n := range []int64{5, -3, 100, 0, -1 << 40} {
		must(t, m.Put(key, n, fmt.Sprint(n)))
	}
	must(t, m.Put([]byte("other"), 1, "other"))
	if v, ok, err := m.Get(key, 100); err != nil || !ok || v != "100" {
		t.Errorf("Get(100) = %q %v %v", v, ok, err)
	}
	if _, ok, err := m.Get(key, 6); err != nil || ok {
		t.Errorf("Get(6) = %v %v", ok, err)
	}
	must(t, m.Delete(key, 0))
	var got []int64
	must(t, m.Range(key, func(k int64, v string) bool {
		if v != fmt.Sprint(k) {
			t.Errorf("entry %d = %q", k, v)
		}
		got = append(got, k)
		return true
	}))
	if want := []int64{-1 << 40, -3, 5, 100}; !slices.Equal(got, want) {
		t.Errorf("Range = %v, want %v", got, want)
	}
	// Stop early.
	got = got[:0]
	must(t, m.Range(key, func(k int64, _ string) bool {
		got = append(got, k)
		return len(got) < 2
	}))
	if len(got) != 2 {
		t.Errorf("Range after false: %v", got)
	}
	// Writing from within Range: the iteration sees the map as it was.
	must(t, m.Range(key, func(k int64, v string) bool {
		must(t, m.Put(key, k+1000, v))
		must(t, m.Delete(key, k))
		return true
	}))
	got = got[:0]
	must(t, m.Range(key, func(k int64, _ string) bool { got = append(got, k); return true }))
	if want := []int64{-1<<40 + 1000, 997, 1005, 1100}; !slices.Equal(got, want) {
		t.Errorf("after rewrite: %v, want %v", got, want)
	}
	must(t, m.Clear(key))
	must(t, m.Range(key, func(k int64, _ string) bool { t.Errorf("entry %d after Clear", k); return true }))
	if v, ok, _ := m.Get([]byte("other"), 1); !ok || v != "other" {
		t.Errorf("Clear cleared another key's map")
	}
}

func TestListRoundTrip(t *testing.T) {
	b := open(t, state.Options{})
	l := state.NewList(b, "op", "l", state.JSON[point]{})
	key := []byte("k")
	if got, err := l.Get(key); err != nil || got != nil {
		t.Fatalf("empty list: %v %v", got, err)
	}
	must(t, l.Add(key, point{1, 1}))
	must(t, l.Add(key, point{2, 2}))
	must(t, b.Flush()) // merge operands on both sides of a commit
	must(t, l.Add(key, point{3, 3}))
	got, err := l.Get(key)
	must(t, err)
	if want := []point{{1, 1}, {2, 2}, {3, 3}}; !slices.Equal(got, want) {
		t.Errorf("Get = %v, want %v", got, want)
	}
	must(t, l.Update(key, []point{{9, 9}}))
	must(t, l.Add(key, point{10, 10}))
	got, err = l.Get(key)
	must(t, err)
	if want := []point{{9, 9}, {10, 10}}; !slices.Equal(got, want) {
		t.Errorf("after Update: %v, want %v", got, want)
	}
	must(t, l.Clear(key))
	if got, err := l.Get(key); err != nil || got != nil {
		t.Errorf("after Clear: %v %v", got, err)
	}
	must(t, l.Add(key, point{}))
	if got, _ := l.Get(key); len(got) != 1 {
		t.Errorf("Add after Clear: %v", got)
	}
}

// TestAutoFlush writes far more than BatchSize and reads everything back,
// across automatic commits and with a Range open while writing.
func TestAutoFlush(t *testing.T) {
	b := open(t, state.Options{BatchSize: 1 << 10, MemTableSize: 64 << 10})
	v := state.NewValue(b, "op", "v", state.Int64{})
	m := state.NewMap(b, "op", "m", state.Int64{}, state.Int64{})
	const n = 5000
	for i := range int64(n) {
		k := []byte(fmt.Sprint(i))
		must(t, v.Put(k, i))
		must(t, m.Put([]byte("all"), i, i))
	}
	for i := range int64(n) {
		if got, ok := get(t, v, fmt.Sprint(i)); !ok || got != i {
			t.Fatalf("key %d: %d %v", i, got, ok)
		}
	}
	count := 0
	must(t, m.Range([]byte("all"), func(k, _ int64) bool {
		count++
		must(t, v.Put([]byte(fmt.Sprint(k)), -k)) // many writes while iterating
		return true
	}))
	if count != n {
		t.Errorf("Range saw %d entries, want %d", count, n)
	}
	if got, _ := get(t, v, "17"); got != -17 {
		t.Errorf("write from Range: %d", got)
	}
	if b.Metrics().SSTFiles == 0 {
		t.Error("no SST after writing several memtables")
	}
}

// TestMapClearAll: ClearAll drops every key's entries of one map in every
// key group, leaves other maps and operators alone, and reports whether
// it found anything (and finds nothing the second time).
func TestMapClearAll(t *testing.T) {
	b := open(t, state.Options{})
	old := state.NewMap(b, "op", "retain.left", state.Int64{}, state.String{})
	keep := state.NewMap(b, "op", "rows.left", state.Int64{}, state.String{})
	other := state.NewMap(b, "op2", "retain.left", state.Int64{}, state.String{})
	prefixed := state.NewMap(b, "op", "retain.left2", state.Int64{}, state.String{})
	keys := 0
	for i := range 500 {
		key := []byte(fmt.Sprintf("key-%d", i))
		must(t, old.Put(key, int64(i), "old"))
		must(t, keep.Put(key, int64(i), "keep"))
		must(t, other.Put(key, int64(i), "other"))
		must(t, prefixed.Put(key, int64(i), "prefixed"))
		keys++
	}
	found, err := old.ClearAll()
	if err != nil || !found {
		t.Fatalf("ClearAll = %v, %v; want true, nil", found, err)
	}
	for i := range keys {
		key := []byte(fmt.Sprintf("key-%d", i))
		must(t, old.Range(key, func(k int64, _ string) bool { t.Errorf("%s: entry %d after ClearAll", key, k); return true }))
		for _, m := range []*state.Map[int64, string]{keep, other, prefixed} {
			if _, ok, err := m.Get(key, int64(i)); err != nil || !ok {
				t.Fatalf("%s: another map lost its entry (%v, %v)", key, ok, err)
			}
		}
	}
	if found, err := old.ClearAll(); err != nil || found {
		t.Errorf("second ClearAll = %v, %v; want false, nil", found, err)
	}
}
