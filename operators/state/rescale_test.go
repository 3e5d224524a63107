package state_test

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/operators/state"
)

// kgRange is task's key groups among tasks (operators.KeyGroupRange).
func kgRange(task, mp, tasks int) state.KeyGroupRange {
	return state.KeyGroupRange{Start: (task*mp + tasks - 1) / tasks, End: ((task+1)*mp + tasks - 1) / tasks}
}

// applyOps writes every kind of state for the keys owns accepts;
// between is called after each of three rounds.
func applyOps(t *testing.T, seed uint64, b *state.Backend, owns func(key []byte) bool, between func()) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	v := state.NewValue(b, "agg", "count", state.Int64{})
	l := state.NewList(b, "win", "buf", state.String{})
	m := state.NewMap(b, "join", "rows", state.String{}, state.String{})
	tm := state.NewTimers(b, "win")
	for round := range 3 {
		for i := range 400 {
			key := []byte("k" + strconv.Itoa(r.IntN(150)))
			op := r.IntN(6)
			ts := int64(r.IntN(1000))
			if !owns(key) {
				continue
			}
			switch op {
			case 0, 1:
				n, _, err := v.Get(key)
				must(t, err)
				must(t, v.Put(key, n+1))
			case 2:
				must(t, l.Add(key, fmt.Sprintf("r%d-%d", round, i)))
			case 3:
				must(t, m.Put(key, strconv.Itoa(i%7), strconv.Itoa(i)))
			case 4:
				must(t, tm.Register(state.EventTime, ts, key))
			case 5:
				must(t, v.Delete(key))
				must(t, m.Delete(key, strconv.Itoa(i%7)))
			}
		}
		between()
	}
}

// within returns the lines of a dump whose key lies in r.
func within(d string, r state.KeyGroupRange) string {
	var out strings.Builder
	for line := range strings.SplitSeq(d, "\n") {
		if line == "" {
			continue
		}
		k, _ := hex.DecodeString(line[:4])
		if len(k) == 2 && k[0] != 0xff && r.Contains(int(k[0])<<8|int(k[1])) {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// checkpointAll checkpoints each backend into a new directory.
func checkpointAll(t *testing.T, bs []*state.Backend, rs []state.KeyGroupRange) []state.RescaleSource {
	t.Helper()
	var srcs []state.RescaleSource
	for i, b := range bs {
		dir := filepath.Join(t.TempDir(), "chk")
		if _, err := b.Checkpoint(dir); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, state.RescaleSource{Dir: dir, KeyGroups: rs[i]})
	}
	return srcs
}

// rescaleTo builds tasks backends from srcs and checks each holds exactly
// its key groups of want, timers included.
func rescaleTo(t *testing.T, srcs []state.RescaleSource, mp, tasks int, want string, wantTimers map[state.KeyGroupRange][]string) ([]*state.Backend, []state.KeyGroupRange) {
	t.Helper()
	var bs []*state.Backend
	var rs []state.KeyGroupRange
	for i := range tasks {
		r := kgRange(i, mp, tasks)
		b, stats, err := state.OpenRescaled(srcs, filepath.Join(t.TempDir(), "work"), filepath.Join(t.TempDir(), "live"),
			state.Options{MaxParallelism: mp, KeyGroups: r, Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { must(t, b.Close()) })
		if got, w := within(dump(t, b), state.AllKeyGroups(mp)), within(want, r); got != w {
			t.Fatalf("%d tasks, task %d %v: rescaled state differs from the reference's key groups:\ngot\n%s\nwant\n%s", tasks, i, r, got, w)
		}
		if got := dump(t, b); got != within(got, r)+metaLines(got) {
			t.Fatalf("task %d %v holds keys of other key groups:\n%s", i, r, got)
		}
		t.Logf("%d tasks, task %d %v: base source %d, %d keys copied", tasks, i, r, stats.Base, stats.Copied)
		if got := peekTimers(t, b); strings.Join(got, ",") != strings.Join(wantTimers[r], ",") {
			t.Fatalf("task %d %v fires timers %v, want %v", i, r, got, wantTimers[r])
		}
		bs = append(bs, b)
		rs = append(rs, r)
	}
	return bs, rs
}

func metaLines(d string) string {
	var out strings.Builder
	for line := range strings.SplitSeq(d, "\n") {
		if strings.HasPrefix(line, "ff") {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// peekTimers lists the event-time timers of b in firing order without
// deleting them (Fire deletes; the backend is then checkpointed again, so
// fire on a throwaway restore instead).
func peekTimers(t *testing.T, b *state.Backend) []string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "peek")
	if _, err := b.Checkpoint(dir); err != nil {
		t.Fatal(err)
	}
	peek := restore(t, dir, state.Options{MaxParallelism: b.MaxParallelism(), KeyGroups: b.KeyGroups()})
	var got []string
	must(t, state.NewTimers(peek, "win").Fire(state.EventTime, 1<<40, func(ts int64, key []byte) error {
		got = append(got, fmt.Sprintf("%d/%s", ts, key))
		return nil
	}))
	return got
}

// TestOpenRescaled: state of every kind (values, merged lists, maps,
// deletions, timers) written by 2 tasks, rescaled to 4 and then to 1 and
// 3, holds in each new task exactly the state of its key groups that one
// backend holding every key group has, and the timers fire there.
func TestOpenRescaled(t *testing.T) {
	const mp = 16
	ref := open(t, state.Options{MaxParallelism: mp})
	applyOps(t, 1, ref, func([]byte) bool { return true }, func() { must(t, ref.Flush()) })
	want := dump(t, ref)
	wantTimers := func(tasks int) map[state.KeyGroupRange][]string {
		out := map[state.KeyGroupRange][]string{}
		all := peekTimers(t, ref)
		for i := range tasks {
			r := kgRange(i, mp, tasks)
			for _, s := range all {
				_, key, _ := strings.Cut(s, "/")
				if r.Contains(state.KeyGroup([]byte(key), mp)) {
					out[r] = append(out[r], s)
				}
			}
		}
		return out
	}

	// Two old tasks, several checkpoints each (several SSTs, lists
	// built of merge operands in different files).
	var old []*state.Backend
	var oldR []state.KeyGroupRange
	for i := range 2 {
		r := kgRange(i, mp, 2)
		old = append(old, open(t, state.Options{MaxParallelism: mp, KeyGroups: r}))
		oldR = append(oldR, r)
	}
	owner := func(i int) func([]byte) bool {
		return func(k []byte) bool { return oldR[i].Contains(state.KeyGroup(k, mp)) }
	}
	for i, b := range old {
		applyOps(t, 1, b, owner(i), func() {
			if _, err := b.Checkpoint(filepath.Join(t.TempDir(), "c")); err != nil {
				t.Fatal(err)
			}
		})
	}
	srcs2 := checkpointAll(t, old, oldR)

	four, fourR := rescaleTo(t, srcs2, mp, 4, want, wantTimers(4))
	srcs4 := checkpointAll(t, four, fourR)
	rescaleTo(t, srcs4, mp, 1, want, wantTimers(1))
	rescaleTo(t, srcs4, mp, 3, want, wantTimers(3))
	rescaleTo(t, srcs2, mp, 3, want, wantTimers(3))
}

// TestOpenRescaledRefuses: key groups no old task held, and a change of
// MaxParallelism, are refused with what is wrong.
func TestOpenRescaledRefuses(t *testing.T) {
	const mp = 16
	b := open(t, state.Options{MaxParallelism: mp, KeyGroups: kgRange(0, mp, 2)})
	srcs := checkpointAll(t, []*state.Backend{b}, []state.KeyGroupRange{kgRange(0, mp, 2)})
	_, _, err := state.OpenRescaled(srcs, filepath.Join(t.TempDir(), "w"), filepath.Join(t.TempDir(), "l"),
		state.Options{MaxParallelism: mp, KeyGroups: state.AllKeyGroups(mp)})
	if err == nil || !strings.Contains(err.Error(), "no old task held key groups [8,16)") {
		t.Errorf("missing key groups: %v", err)
	}
	srcs[0].KeyGroups = state.KeyGroupRange{Start: 0, End: 32}
	_, _, err = state.OpenRescaled(srcs, filepath.Join(t.TempDir(), "w"), filepath.Join(t.TempDir(), "l"),
		state.Options{MaxParallelism: 32, KeyGroups: state.KeyGroupRange{Start: 0, End: 4}})
	if err == nil || !strings.Contains(err.Error(), "key groups cannot change") {
		t.Errorf("another MaxParallelism: %v", err)
	}
}

// TestOpenRescaledRandomSequences: seeded random sequences of task counts
// (1 to 7) over 8, 16 or 128 key groups; after every rescale the new
// tasks hold together exactly the reference's state, each only its key
// groups, and fire exactly their timers.
func TestOpenRescaledRandomSequences(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("TIDEMARK_RESCALE_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (set TIDEMARK_RESCALE_SEED to repeat)", seed)
	r := rand.New(rand.NewPCG(seed, 11))
	for round := range 3 {
		mp := []int{8, 16, 128}[r.IntN(3)]
		ref := open(t, state.Options{MaxParallelism: mp})
		applyOps(t, seed+uint64(round), ref, func([]byte) bool { return true }, func() { must(t, ref.Flush()) })
		want := dump(t, ref)
		all := peekTimers(t, ref)
		timersOf := func(tasks int) map[state.KeyGroupRange][]string {
			out := map[state.KeyGroupRange][]string{}
			for i := range tasks {
				kr := kgRange(i, mp, tasks)
				for _, s := range all {
					_, key, _ := strings.Cut(s, "/")
					if kr.Contains(state.KeyGroup([]byte(key), mp)) {
						out[kr] = append(out[kr], s)
					}
				}
			}
			return out
		}
		p := 1 + r.IntN(7)
		var bs []*state.Backend
		var rs []state.KeyGroupRange
		for i := range p {
			kr := kgRange(i, mp, p)
			b := open(t, state.Options{MaxParallelism: mp, KeyGroups: kr})
			applyOps(t, seed+uint64(round), b, func(k []byte) bool { return kr.Contains(state.KeyGroup(k, mp)) }, func() {
				if _, err := b.Checkpoint(filepath.Join(t.TempDir(), "c")); err != nil {
					t.Fatal(err)
				}
			})
			bs, rs = append(bs, b), append(rs, kr)
		}
		seq := []int{p}
		for range 4 {
			next := 1 + r.IntN(7)
			seq = append(seq, next)
			bs, rs = rescaleTo(t, checkpointAll(t, bs, rs), mp, next, want, timersOf(next))
		}
		t.Logf("max parallelism %d: tasks %v", mp, seq)
	}
}

// wmKey is the first key prefix<i> of key groups r (the operators'
// per-task watermark key).
func wmKey(prefix string, r state.KeyGroupRange, mp int) []byte {
	for i := 0; ; i++ {
		if k := []byte(prefix + strconv.Itoa(i)); r.Contains(state.KeyGroup(k, mp)) {
			return k
		}
	}
}

// TestOpenRescaledWatermarks: the per-task watermarks operators keep
// under the first watermark key of their key groups (aggregates
// "watermark-<i>", joins "wm<i>") are found by each new task under its own
// key: the least of those of the old tasks it takes key groups from, or
// none when one of them had none.
func TestOpenRescaledWatermarks(t *testing.T) {
	const mp = 128
	var olds []*state.Backend
	var rs []state.KeyGroupRange
	for i := range 4 {
		r := kgRange(i, mp, 4)
		b := open(t, state.Options{MaxParallelism: mp, KeyGroups: r})
		must(t, state.NewValue(b, "agg", "watermark", state.Int64{}).Put(wmKey("watermark-", r, mp), int64(1000+10*i)))
		if i != 3 {
			must(t, state.NewValue(b, "join", "watermark", state.Int64{}).Put(wmKey("wm", r, mp), int64(2000-10*i)))
		}
		olds, rs = append(olds, b), append(rs, r)
	}
	srcs := checkpointAll(t, olds, rs)
	for _, c := range []struct {
		tasks int
		agg   []int64 // per new task
		join  []int64 // -1: none
	}{
		{tasks: 2, agg: []int64{1000, 1020}, join: []int64{1990, -1}},
		{tasks: 1, agg: []int64{1000}, join: []int64{-1}},
		{tasks: 8, agg: []int64{1000, 1000, 1010, 1010, 1020, 1020, 1030, 1030}, join: []int64{2000, 2000, 1990, 1990, 1980, 1980, -1, -1}},
	} {
		for i := range c.tasks {
			r := kgRange(i, mp, c.tasks)
			b, _, err := state.OpenRescaled(srcs, filepath.Join(t.TempDir(), "w"), filepath.Join(t.TempDir(), "l"),
				state.Options{MaxParallelism: mp, KeyGroups: r, Logger: zaptest.NewLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			agg, ok, err := state.NewValue(b, "agg", "watermark", state.Int64{}).Get(wmKey("watermark-", r, mp))
			must(t, err)
			if !ok || agg != c.agg[i] {
				t.Errorf("%d tasks, task %d %v: aggregate watermark %d (%t), want %d", c.tasks, i, r, agg, ok, c.agg[i])
			}
			join, ok, err := state.NewValue(b, "join", "watermark", state.Int64{}).Get(wmKey("wm", r, mp))
			must(t, err)
			if want := c.join[i]; (want < 0) == ok || ok && join != want {
				t.Errorf("%d tasks, task %d %v: join watermark %d (%t), want %d (-1: none)", c.tasks, i, r, join, ok, want)
			}
			must(t, b.Close())
		}
	}
}

// TestTaskWatermarkPrefixesPinned: the operators that keep a per-task
// watermark still make its key as OpenRescaled expects (first
// PREFIX<i> of the task's key groups, value state "watermark"). If this
// fails, an operator changed how it keeps its watermark: update
// taskWatermarkPrefixes in rescale_wm.go with it.
func TestTaskWatermarkPrefixesPinned(t *testing.T) {
	for file, want := range map[string][]string{
		"../aggregate/common.go":           {`[]byte("watermark-" + strconv.Itoa(i))`},
		"../aggregate/windowed.go":         {`state.NewValue(oc.State, oc.Name, "watermark", state.Int64{})`, `watermarkKey(oc.State)`},
		"../join/base.go":                  {`[]byte("wm" + strconv.Itoa(i))`, `state.NewValue(oc.State, oc.Name, "watermark", state.Int64{})`},
		"../internal/rowcodec/rowcodec.go": {`strconv.AppendInt([]byte(prefix), int64(i), 10)`},
		"../rank/topn.go":                  {`rowcodec.TaskKey(oc.State, "task/")`, `state.NewValue(oc.State, oc.Name, "watermark", state.Int64{})`},
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(data), w) {
				t.Errorf("%s no longer contains %s", file, w)
			}
		}
	}
}
