package state_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tidemark/tidemark/operators/state"
)

// checkpointBytes is the size of every file of checkpoint dir.
func checkpointBytes(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	var n int64
	for _, e := range entries {
		fi, err := e.Info()
		must(t, err)
		n += fi.Size()
	}
	return n
}

// TestCheckpointedStateStaysProportional: a small state every key of
// which changes between two checkpoints (a keyed count) would pile up one
// copy of itself in L0 per checkpoint until Pebble's L0 threshold; the
// backend's own compaction keeps what a checkpoint references within 3
// times the live state, and every checkpoint restores to the state it was
// made of.
func TestCheckpointedStateStaysProportional(t *testing.T) {
	const keys, rounds = 5000, 40
	b := open(t, state.Options{})
	count := state.NewValue(b, "count", "n", state.Int64{})
	root := t.TempDir()
	var worst float64
	var sizes []int64
	wants := map[int]string{}
	for r := range rounds {
		for k := range keys {
			must(t, count.Put(fmt.Appendf(nil, "key-%05d", k), int64(r*keys+k)))
		}
		dir := filepath.Join(root, fmt.Sprint(r))
		if _, err := b.Checkpoint(dir); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, checkpointBytes(t, dir))
		if r%10 == 9 {
			wants[r] = dump(t, b)
		}
		b.WaitCompaction() // the next round's writes would overlap it anyway
	}
	if b.Metrics().Compactions == 0 {
		t.Fatal("the backend never compacted")
	}
	live := b.CompactAll(t)
	for r, s := range sizes {
		worst = max(worst, float64(s)/float64(live))
		if float64(s) > 3*float64(live) {
			t.Errorf("checkpoint %d holds %d bytes, %.1f times the live state (%d bytes); want at most 3 times", r, s, float64(s)/float64(live), live)
		}
	}
	t.Logf("%d checkpoints of %d keys all changed: live state %d bytes, checkpoints %d to %d bytes, at most %.2f times live; %d compactions",
		rounds, keys, live, sizes[0], sizes[len(sizes)-1], worst, b.Metrics().Compactions)
	for r, want := range wants {
		if got := dump(t, restore(t, filepath.Join(root, fmt.Sprint(r)), state.Options{})); got != want {
			t.Errorf("checkpoint %d restores a different state", r)
		}
	}
}

// TestCompactionDropsDeletedState: once most keys are deleted, the
// checkpoints shrink towards the state that is left.
func TestCompactionDropsDeletedState(t *testing.T) {
	const keys = 20000
	b := open(t, state.Options{})
	v := state.NewValue(b, "op", "v", state.String{})
	pad := string(make([]byte, 100))
	for k := range keys {
		must(t, v.Put(fmt.Appendf(nil, "key-%05d", k), pad))
	}
	root := t.TempDir()
	_, err := b.Checkpoint(filepath.Join(root, "full"))
	must(t, err)
	b.WaitCompaction()
	full := checkpointBytes(t, filepath.Join(root, "full"))
	for k := range keys {
		if k%10 != 0 {
			must(t, v.Delete(fmt.Appendf(nil, "key-%05d", k)))
		}
	}
	// Pebble estimates what deletions free in the background, after a
	// flush: checkpoint until a compaction has run, a bounded number of
	// times.
	var last int64
	for i := range 50 {
		dir := filepath.Join(root, fmt.Sprint(i))
		_, err := b.Checkpoint(dir)
		must(t, err)
		b.WaitCompaction()
		if i > 0 {
			last = checkpointBytes(t, dir)
			if float64(last) < 0.3*float64(full) {
				break
			}
		}
	}
	want := dump(t, b)
	live := b.CompactAll(t)
	t.Logf("full %d bytes, after deleting 90 %% of the keys %d bytes, live %d bytes", full, last, live)
	if float64(last) > 3*float64(live) {
		t.Errorf("after deleting 90 %% of the keys a checkpoint holds %d bytes (full: %d), %.1f times the live state (%d bytes); want at most 3 times",
			last, full, float64(last)/float64(live), live)
	}
	if got := dump(t, b); got != want {
		t.Error("compaction changed the state")
	}
}

// TestCheckpointDuringCompaction: the backend's compaction runs in the
// background, so the task writes, deletes and checkpoints while it runs.
// A seeded schedule of writes, deletes, checkpoints and (sometimes) waits
// for the running compaction; every checkpoint, taken whether or not a
// compaction was running, restores exactly the state it was made of.
func TestCheckpointDuringCompaction(t *testing.T) {
	const keys, rounds = 3000, 30
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	b := open(t, state.Options{})
	count := state.NewValue(b, "count", "n", state.Int64{})
	root := t.TempDir()
	wants := map[int]string{}
	during := 0
	for r := range rounds {
		for k := range keys {
			key := fmt.Appendf(nil, "key-%05d", k)
			if rng.IntN(10) == 0 {
				must(t, count.Delete(key))
				continue
			}
			must(t, count.Put(key, int64(r*keys+k)))
		}
		if b.CompactionRunning() {
			during++
		}
		dir := filepath.Join(root, fmt.Sprint(r))
		if _, err := b.Checkpoint(dir); err != nil {
			t.Fatalf("seed %d, checkpoint %d: %v", seed, r, err)
		}
		wants[r] = dump(t, b)
		if rng.IntN(4) == 0 {
			b.WaitCompaction()
		}
	}
	if b.Metrics().Compactions == 0 {
		t.Fatalf("seed %d: the backend never compacted", seed)
	}
	if during == 0 {
		t.Fatalf("seed %d: no checkpoint was taken while a compaction ran", seed)
	}
	t.Logf("%d of %d checkpoints taken while a compaction ran, %d compactions", during, rounds, b.Metrics().Compactions)
	for r := range rounds {
		if got := dump(t, restore(t, filepath.Join(root, fmt.Sprint(r)), state.Options{})); got != wants[r] {
			t.Errorf("seed %d: checkpoint %d restores a different state", seed, r)
		}
	}
}
