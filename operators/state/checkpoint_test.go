package state_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/operators/state"
)

// fill writes n keys of every kind of state, in a way that depends on round.
func fill(t *testing.T, b *state.Backend, round, n int) {
	t.Helper()
	v := state.NewValue(b, "op1", "count", state.Int64{})
	m := state.NewMap(b, "op1", "seen", state.String{}, state.Int64{})
	l := state.NewList(b, "op2", "events", state.String{})
	tm := state.NewTimers(b, "op2")
	for i := range n {
		k := []byte(fmt.Sprintf("key-%d", i))
		must(t, v.Put(k, int64(round*n+i)))
		must(t, m.Put(k, fmt.Sprintf("r%d", round), int64(i)))
		must(t, l.Add(k, fmt.Sprintf("event %d of round %d", i, round)))
		must(t, tm.Register(state.EventTime, int64(round*n+i), k))
		if i%10 == 0 {
			must(t, v.Delete([]byte(fmt.Sprintf("key-%d", i/2))))
		}
	}
}

func TestCheckpointRestoreIdentical(t *testing.T) {
	opts := state.Options{MemTableSize: 64 << 10, BatchSize: 8 << 10}
	b := open(t, opts)
	fill(t, b, 0, 2000)
	fill(t, b, 1, 1000) // merges and overwrites on top of flushed data
	fill(t, b, 2, 10)   // still pending in the batch
	want := dump(t, b)

	dir := filepath.Join(t.TempDir(), "chk-1")
	names, err := b.Checkpoint(dir)
	must(t, err)
	var ssts int
	for _, n := range names {
		if state.IsSST(n) {
			ssts++
		}
	}
	if ssts < 2 || !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "MANIFEST-") }) ||
		!slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "OPTIONS-") }) {
		t.Errorf("checkpoint files: %v", names)
	}
	if got := dump(t, b); got != want {
		t.Error("Checkpoint changed the state")
	}
	r := restore(t, dir, opts)
	if got := dump(t, r); got != want {
		t.Errorf("restored state differs: %d bytes, want %d", len(got), len(want))
	}
	if r.Size() == 0 {
		t.Error("restored backend reports no SST bytes")
	}
}

func TestWritesAfterCheckpointNotRestored(t *testing.T) {
	b := open(t, state.Options{MemTableSize: 64 << 10})
	fill(t, b, 0, 500)
	want := dump(t, b)
	dir := filepath.Join(t.TempDir(), "chk-1")
	_, err := b.Checkpoint(dir)
	must(t, err)

	fill(t, b, 1, 500)
	must(t, state.NewValue(b, "op1", "count", state.Int64{}).Delete([]byte("key-3")))
	must(t, b.Flush())
	_, err = b.Checkpoint(filepath.Join(t.TempDir(), "chk-2")) // flushes, may compact
	must(t, err)
	if dump(t, b) == want {
		t.Fatal("writes after the checkpoint changed nothing")
	}
	if got := dump(t, restore(t, dir, state.Options{})); got != want {
		t.Error("restore shows writes made after its checkpoint")
	}
}

// TestRestoreLeavesCheckpointIntact writes into a restored backend until it
// compacts, then restores the same checkpoint again.
func TestRestoreLeavesCheckpointIntact(t *testing.T) {
	opts := state.Options{MemTableSize: 64 << 10}
	b := open(t, opts)
	fill(t, b, 0, 1000)
	want := dump(t, b)
	dir := filepath.Join(t.TempDir(), "chk-1")
	_, err := b.Checkpoint(dir)
	must(t, err)

	r := restore(t, dir, opts)
	for round := 1; round < 6; round++ {
		fill(t, r, round, 1000)
		_, err := r.Checkpoint(filepath.Join(t.TempDir(), fmt.Sprint("chk-r", round)))
		must(t, err)
	}
	must(t, r.Close())
	if got := dump(t, restore(t, dir, opts)); got != want {
		t.Error("second restore of the same checkpoint differs")
	}
}

func TestCheckpointHardLinks(t *testing.T) {
	b := open(t, state.Options{MemTableSize: 64 << 10})
	fill(t, b, 0, 2000)
	dir := filepath.Join(t.TempDir(), "chk-1")
	names, err := b.Checkpoint(dir)
	must(t, err)
	linked := 0
	for _, n := range names {
		if !state.IsSST(n) {
			continue
		}
		ck, err := os.Stat(filepath.Join(dir, n))
		must(t, err)
		live, err := os.Stat(filepath.Join(b.Dir(), n))
		must(t, err)
		if !os.SameFile(ck, live) {
			t.Errorf("%s is not a hard link of the live file", n)
		}
		linked++
	}
	if linked == 0 {
		t.Fatal("checkpoint has no SSTs")
	}

	// A restore links them too.
	live := filepath.Join(t.TempDir(), "restored")
	r, err := state.OpenFrom(dir, live, state.Options{})
	must(t, err)
	defer r.Close()
	for _, n := range names {
		ck, err := os.Stat(filepath.Join(dir, n))
		must(t, err)
		rs, err := os.Stat(filepath.Join(live, n))
		if err != nil {
			continue // Pebble may have replaced MANIFEST or OPTIONS on open
		}
		if same := os.SameFile(ck, rs); same != state.IsSST(n) {
			t.Errorf("%s: restored file shares the checkpoint's inode: %v", n, same)
		}
	}
}

func TestCheckpointDirMustNotExist(t *testing.T) {
	b := open(t, state.Options{})
	if _, err := b.Checkpoint(t.TempDir()); err == nil {
		t.Error("Checkpoint into an existing directory succeeded")
	}
}

func TestOpenFromReplacesLiveDir(t *testing.T) {
	root := t.TempDir()
	live := filepath.Join(root, "live")
	// A crashed process's live directory with state no checkpoint has.
	old, err := state.Open(live, state.Options{})
	must(t, err)
	fill(t, old, 7, 100)
	_, err = old.Checkpoint(filepath.Join(root, "chk-old"))
	must(t, err)
	must(t, old.Close())

	b := open(t, state.Options{})
	fill(t, b, 0, 100)
	want := dump(t, b)
	dir := filepath.Join(root, "chk-1")
	_, err = b.Checkpoint(dir)
	must(t, err)

	r, err := state.OpenFrom(dir, live, state.Options{})
	must(t, err)
	if got := dump(t, r); got != want {
		t.Error("OpenFrom kept the old live directory's state")
	}
	must(t, r.Close())

	// Open also starts empty.
	e, err := state.Open(live, state.Options{})
	must(t, err)
	for _, k := range keys(t, e) {
		if k[0] != 0xff { // the backend's own keys start with 0xff
			t.Errorf("Open kept key %x", k)
		}
	}
	must(t, e.Close())

	if _, err := state.OpenFrom(dir, dir, state.Options{}); err == nil {
		t.Error("OpenFrom into the checkpoint itself succeeded")
	}
}

func TestOpenRefusesForeignDir(t *testing.T) {
	dir := t.TempDir()
	precious := filepath.Join(dir, "precious.txt")
	must(t, os.WriteFile(precious, []byte("keep me"), 0o644))
	if _, err := state.Open(dir, state.Options{}); err == nil {
		t.Fatal("Open emptied a directory Pebble did not write")
	}
	if _, err := state.OpenFrom(t.TempDir(), dir, state.Options{}); err == nil {
		t.Fatal("OpenFrom from an empty checkpoint succeeded")
	}
	if _, err := os.Stat(precious); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreRefusesOtherMaxParallelism(t *testing.T) {
	b := open(t, state.Options{MaxParallelism: 64})
	fill(t, b, 0, 10)
	dir := filepath.Join(t.TempDir(), "chk-1")
	_, err := b.Checkpoint(dir)
	must(t, err)
	if _, err := state.OpenFrom(dir, filepath.Join(t.TempDir(), "live"), state.Options{}); err == nil ||
		!strings.Contains(err.Error(), "64 key groups") {
		t.Errorf("OpenFrom with MaxParallelism 128: %v", err)
	}
	restore(t, dir, state.Options{MaxParallelism: 64})
}
