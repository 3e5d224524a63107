package assign

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const fp = "fp-1"

func stageTasks(stage string, n int, stateful bool) []Task {
	ts := make([]Task, n)
	for i := range ts {
		ts[i] = Task{ID: fmt.Sprintf("%s-%d", stage, i), Stage: stage, Stateful: stateful}
	}
	return ts
}

func epoch(p int, ts ...[]Task) Epoch {
	e := Epoch{Number: 3, Fingerprint: fp, Parallelism: p}
	for _, l := range ts {
		e.Tasks = append(e.Tasks, l...)
	}
	return e
}

// mem returns a matching member of epoch 3 owning the given tasks.
func mem(id string, owned ...string) Member {
	m := Member{ID: id, Metadata: Metadata{Fingerprint: fp, Parallelism: 2, Epoch: 3}}
	for _, t := range owned {
		m.Owned = append(m.Owned, OwnedTask{Task: t, LeaseGeneration: 1})
	}
	return m
}

func withLocal(m Member, copies ...LocalCopy) Member {
	m.Local = append(m.Local, copies...)
	return m
}

func mustAssign(t *testing.T, in Input) Output {
	t.Helper()
	out, err := Assign(in)
	if err != nil {
		t.Fatalf("Assign: %v", err)
	}
	return out
}

func assignmentOf(t *testing.T, out Output, id string) Assignment {
	t.Helper()
	for _, m := range out.Members {
		if m.Member == id {
			return m.Assignment
		}
	}
	t.Fatalf("no assignment for %s in %+v", id, out)
	return Assignment{}
}

// actives returns member -> its active tasks, joined, for compact wants.
func actives(out Output) map[string]string {
	r := map[string]string{}
	for _, m := range out.Members {
		r[m.Member] = strings.Join(m.Active, " ")
	}
	return r
}

// progress says every task in ts has checkpoint 10 of stateBytes, whose
// predecessor 9 uploaded step bytes less.
func progress(stateBytes, uploaded int64, ts ...Task) []Progress {
	var ps []Progress
	for _, t := range ts {
		ps = append(ps, Progress{Task: t.ID, Checkpoints: []CheckpointSize{
			{ID: 9, Previous: 8, UploadedBytes: uploaded, StateBytes: stateBytes},
			{ID: 10, Previous: 9, UploadedBytes: uploaded, StateBytes: stateBytes},
		}})
	}
	return ps
}

func TestRule1Mismatch(t *testing.T) {
	src := stageTasks("source:events", 2, false)
	par4 := mem("b")
	par4.Parallelism = 4
	otherFP := mem("c")
	otherFP.Fingerprint = "fp-2222222222222222"
	both := mem("d")
	both.Parallelism, both.Fingerprint = 4, "fp-2"
	out := mustAssign(t, Input{Epoch: epoch(2, src), Members: []Member{mem("a"), par4, otherFP, both}, Options: DefaultOptions()})

	if got := assignmentOf(t, out, "a").Active; len(got) != 2 {
		t.Fatalf("matching member a: active %v, want both tasks", got)
	}
	wants := map[string]string{
		"b": "config differs from epoch 3: parallelism 4 vs 2 (this instance vs the epoch); to rescale, stop the job (processor savepoint --stop) and start every instance with job.parallelism 4; to join the running job, set job.parallelism to 2",
		"c": "config differs from epoch 3: topology fingerprint fp-222222222 vs fp-1 (this instance vs the epoch); the operators, job.max_parallelism or exchange settings changed: run this instance with the epoch's config, or start the job afresh (--fresh)",
		"d": "config differs from epoch 3: parallelism 4 vs 2, topology fingerprint fp-2 vs fp-1 (this instance vs the epoch); the operators, job.max_parallelism or exchange settings changed: run this instance with the epoch's config, or start the job afresh (--fresh)",
	}
	for id, want := range wants {
		a := assignmentOf(t, out, id)
		if len(a.Active)+len(a.Warmup)+len(a.Standby) != 0 {
			t.Errorf("%s: mismatching member got tasks %+v", id, a)
		}
		if a.Reason != want {
			t.Errorf("%s: reason\n got %q\nwant %q", id, a.Reason, want)
		}
	}
	if out.Transition != nil {
		t.Fatalf("transition %+v while a member matches", out.Transition)
	}
}

func TestRule1MismatchingHolderReleases(t *testing.T) {
	// b runs source-1 but its config no longer matches (its metadata says
	// so): it must stop it, and nobody gets it in this generation.
	src := stageTasks("source", 2, false)
	b := mem("b", "source-1")
	b.Parallelism = 4
	out := mustAssign(t, Input{Epoch: epoch(2, src), Members: []Member{mem("a", "source-0"), b}, Options: DefaultOptions()})
	if got := actives(out); got["a"] != "source-0" || got["b"] != "" {
		t.Fatalf("actives %v, want a: source-0 and nobody source-1", got)
	}
	if want := []Move{{Task: "source-1", From: "b", To: "a"}}; !reflect.DeepEqual(out.Moves, want) {
		t.Fatalf("moves %+v, want %+v", out.Moves, want)
	}
}

func TestRule1Transition(t *testing.T) {
	keyed := stageTasks("keyed", 2, true)
	at := func(id string, p int, owned ...string) Member {
		m := mem(id, owned...)
		m.Parallelism = p
		return m
	}
	cases := []struct {
		name    string
		e       Epoch
		members []Member
		want    *Transition
		reason  string
	}{
		{"all agree on 4, epoch runs nowhere", epoch(2, keyed), []Member{at("a", 4), at("b", 4)}, &Transition{From: 3, Parallelism: 4},
			"config differs from epoch 3: parallelism 4 vs 2; starting epoch 4 with parallelism 4 from epoch 3's checkpoints"},
		{"members disagree", epoch(2, keyed), []Member{at("a", 4), at("b", 3)}, nil, ""},
		{"one still runs the epoch", epoch(2, keyed), []Member{at("a", 4), at("b", 4, "keyed-0")}, nil, ""},
		{"one matches", epoch(2, keyed), []Member{at("a", 4), at("b", 2)}, nil, ""},
		{"stopped epoch, still listed as owned", func() Epoch { e := epoch(2, keyed); e.StoppedBy = "before-v2"; return e }(),
			[]Member{at("a", 4, "keyed-0"), at("b", 4)}, &Transition{From: 3, Parallelism: 4}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := mustAssign(t, Input{Epoch: c.e, Members: c.members, Options: DefaultOptions()})
			if !reflect.DeepEqual(out.Transition, c.want) {
				t.Fatalf("transition %+v, want %+v", out.Transition, c.want)
			}
			if c.reason != "" {
				if got := assignmentOf(t, out, "a").Reason; got != c.reason {
					t.Fatalf("reason\n got %q\nwant %q", got, c.reason)
				}
			}
			if c.want != nil {
				for _, m := range out.Members {
					if len(m.Active) != 0 {
						t.Fatalf("%s runs %v during a transition", m.Member, m.Active)
					}
				}
			}
		})
	}
}

func TestRule1Stopped(t *testing.T) {
	e := epoch(2, stageTasks("keyed", 2, true))
	e.StoppedBy = "before-v2"
	out := mustAssign(t, Input{Epoch: e, Members: []Member{mem("a"), mem("b")}, Options: DefaultOptions()})
	for _, m := range out.Members {
		if len(m.Active) != 0 || m.Reason != "job stopped by savepoint before-v2 at epoch 3" {
			t.Fatalf("%s: %+v, want nothing and the stop reason", m.Member, m.Assignment)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	src := stageTasks("s", 2, false)
	ahead := mem("b")
	ahead.Epoch = 4
	cases := []struct {
		name string
		in   Input
		is   error
		says string
	}{
		{"epoch 0", Input{Epoch: Epoch{Tasks: src}}, ErrInvalidInput, "epoch number 0"},
		{"no tasks", Input{Epoch: epoch(2)}, ErrInvalidInput, "has no tasks"},
		{"duplicate task", Input{Epoch: epoch(2, src, src[:1])}, ErrInvalidInput, `task "s-0" twice`},
		{"duplicate member", Input{Epoch: epoch(2, src), Members: []Member{mem("a"), mem("a")}}, ErrInvalidInput, `member "a" appears twice`},
		{"negative option", Input{Epoch: epoch(2, src), Options: Options{MaxWarmups: -1}}, ErrInvalidInput, "negative option"},
		{"member ahead", Input{Epoch: epoch(2, src), Members: []Member{mem("a"), ahead}}, ErrMemberAhead, `member "b" has read epoch 4, the leader assigns epoch 3`},
	}
	for _, c := range cases {
		_, err := Assign(c.in)
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: got %v, want %v saying %q", c.name, err, c.is, c.says)
		}
	}
}

func TestRule2Sticky(t *testing.T) {
	src := stageTasks("source", 7, false)
	cases := []struct {
		name    string
		members []Member
		want    map[string]string
	}{
		{"balanced stays", []Member{mem("a", "source-0", "source-1", "source-2"), mem("b", "source-3", "source-4"), mem("c", "source-5", "source-6")},
			map[string]string{"a": "source-0 source-1 source-2", "b": "source-3 source-4", "c": "source-5 source-6"}},
		// The ceiling (3) goes to the member already running 3, c, not to
		// a by id: nothing moves.
		{"ceiling to the member holding it", []Member{mem("a", "source-0", "source-1"), mem("b", "source-2", "source-3"), mem("c", "source-4", "source-5", "source-6")},
			map[string]string{"a": "source-0 source-1", "b": "source-2 source-3", "c": "source-4 source-5 source-6"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := mustAssign(t, Input{Epoch: epoch(2, src), Members: c.members, Options: DefaultOptions()})
			if got := actives(out); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("actives %v, want %v", got, c.want)
			}
			if len(out.Moves) != 0 {
				t.Fatalf("moves %+v, want none", out.Moves)
			}
		})
	}
}

func TestRule3Orphans(t *testing.T) {
	keyed := stageTasks("keyed", 6, true)
	opts := DefaultOptions() // 256 MiB acceptable
	const gib = 1 << 30
	prog := progress(gib, 10<<20, keyed...) // a copy at checkpoint 9 lacks 10 MiB, one at 8 lacks 20 MiB
	cases := []struct {
		name    string
		members []Member
		want    map[string]string
	}{
		// c died holding keyed-4 and keyed-5. b and d have room, b holds
		// a caught-up copy of keyed-5 (a standby, 10 MiB behind): keyed-5
		// is placed first and goes to b; keyed-4 (no copy) to d.
		{"caught-up copy with room", []Member{
			mem("a", "keyed-0", "keyed-1"),
			withLocal(mem("b", "keyed-2"), LocalCopy{Task: "keyed-5", Checkpoint: 9}),
			mem("d", "keyed-3")},
			map[string]string{"a": "keyed-0 keyed-1", "b": "keyed-2 keyed-5", "d": "keyed-3 keyed-4"}},
		// A copy too far behind (checkpoint 1, whose chain the leader
		// cannot follow: the whole GiB) does not count: least loaded.
		{"stale copy", []Member{
			mem("a", "keyed-0", "keyed-1"),
			mem("b", "keyed-2", "keyed-3"),
			withLocal(mem("d"), LocalCopy{Task: "keyed-4", Checkpoint: 1}),
			withLocal(mem("e"), LocalCopy{Task: "keyed-5", Checkpoint: 1})},
			map[string]string{"a": "keyed-0 keyed-1", "b": "keyed-2 keyed-3", "d": "keyed-4", "e": "keyed-5"}},
		// Nobody with room holds a copy; a, full, holds a caught-up copy
		// of keyed-5: it runs it at once (over its share) rather than
		// d downloading a GiB.
		{"availability over balance", []Member{
			withLocal(mem("a", "keyed-0", "keyed-1"), LocalCopy{Task: "keyed-5", Checkpoint: 10}),
			mem("b", "keyed-2", "keyed-3"),
			mem("d", "keyed-4")},
			map[string]string{"a": "keyed-0 keyed-1 keyed-5", "b": "keyed-2 keyed-3", "d": "keyed-4"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := mustAssign(t, Input{Epoch: epoch(2, keyed), Members: c.members, Progress: prog, Options: opts})
			if got := actives(out); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("actives %v, want %v", got, c.want)
			}
			var above []string
			if c.name == "availability over balance" {
				above = []string{"keyed-5"}
			}
			if !reflect.DeepEqual(out.AboveShare, above) {
				t.Fatalf("above share %v, want %v", out.AboveShare, above)
			}
		})
	}
}

func TestRule3OrphansLeastLoadedPerStageWeighted(t *testing.T) {
	// 6 source tasks, a with capacity 2, b and c with 1: shares 3, 1.5,
	// 1.5. Nobody runs anything yet.
	src := stageTasks("source", 6, false)
	a := mem("a")
	a.Capacity = 2
	out := mustAssign(t, Input{Epoch: epoch(2, src), Members: []Member{a, mem("b"), mem("c")}, Options: DefaultOptions()})
	counts := map[string]int{}
	for _, m := range out.Members {
		counts[m.Member] = len(m.Active)
	}
	if counts["a"] != 3 || counts["b"]+counts["c"] != 3 || counts["b"] < 1 || counts["c"] < 1 {
		t.Fatalf("counts %v, want a 3 and b, c 1 or 2", counts)
	}
	// Stages are balanced separately, and a stage's extra task goes to the
	// member with fewer tasks so far: 3 + 3 tasks on 2 members is 3 + 3.
	out = mustAssign(t, Input{Epoch: epoch(2, stageTasks("x", 3, false), stageTasks("y", 3, false)), Members: []Member{mem("a"), mem("b")}, Options: DefaultOptions()})
	for _, m := range out.Members {
		if len(m.Active) != 3 {
			t.Fatalf("actives %v, want 3 each, one stage's extra on each member", actives(out))
		}
	}
}

func TestRule4BalanceStateless(t *testing.T) {
	// c joins a group where a and b run 3 source tasks each: one task of
	// each moves to c, two-phase: assigned to nobody now.
	src := stageTasks("source", 6, false)
	in := Input{Epoch: epoch(2, src), Options: DefaultOptions(), Members: []Member{
		mem("a", "source-0", "source-1", "source-2"), mem("b", "source-3", "source-4", "source-5"), mem("c")}}
	out := mustAssign(t, in)
	want := map[string]string{"a": "source-0 source-1", "b": "source-3 source-4", "c": ""}
	if got := actives(out); !reflect.DeepEqual(got, want) {
		t.Fatalf("generation g: actives %v, want %v", got, want)
	}
	wantMoves := []Move{{Task: "source-2", From: "a", To: "c"}, {Task: "source-5", From: "b", To: "c"}}
	if !reflect.DeepEqual(out.Moves, wantMoves) {
		t.Fatalf("moves %+v, want %+v", out.Moves, wantMoves)
	}
	if r := assignmentOf(t, out, "c").Reason; r != "" {
		t.Fatalf("c receives tasks next generation, yet has reason %q", r)
	}
	// Generation g+1: a and b released them; c gets both.
	in.Members = []Member{mem("a", "source-0", "source-1"), mem("b", "source-3", "source-4"), mem("c")}
	out = mustAssign(t, in)
	want = map[string]string{"a": "source-0 source-1", "b": "source-3 source-4", "c": "source-2 source-5"}
	if got := actives(out); !reflect.DeepEqual(got, want) || len(out.Moves) != 0 {
		t.Fatalf("generation g+1: actives %v, moves %+v; want %v and no move", got, out.Moves, want)
	}
}

func TestRule4BalanceStateful(t *testing.T) {
	keyed := stageTasks("keyed", 8, true)
	const gib = 1 << 30
	holders := func(extra ...LocalCopy) []Member {
		return []Member{
			mem("a", "keyed-0", "keyed-1", "keyed-2", "keyed-3"),
			mem("b", "keyed-4", "keyed-5", "keyed-6", "keyed-7"),
			withLocal(mem("c"), extra...),
			mem("d"),
		}
	}
	cases := []struct {
		name       string
		members    []Member
		maxWarmups int
		uploaded   int64 // per checkpoint; 10 MiB if 0
		active     map[string]string
		warmup     map[string]string
		moves      []Move
	}{
		// c and d join, nobody holds copies: 2 warm-ups in the group at
		// most, every task keeps running where it is.
		{"warm-ups capped", holders(), 2, 0,
			map[string]string{"a": "keyed-0 keyed-1 keyed-2 keyed-3", "b": "keyed-4 keyed-5 keyed-6 keyed-7", "c": "", "d": ""},
			map[string]string{"c": "keyed-2", "d": "keyed-3"}, nil},
		{"no warm-ups allowed", holders(), 0, 0,
			map[string]string{"a": "keyed-0 keyed-1 keyed-2 keyed-3", "b": "keyed-4 keyed-5 keyed-6 keyed-7", "c": "", "d": ""},
			map[string]string{}, nil},
		// c caught up on keyed-1 (10 MiB behind) and keyed-6: they move
		// at once (two-phase); the warm-up budget goes to d.
		{"caught-up copies move at once", holders(LocalCopy{Task: "keyed-1", Checkpoint: 9}, LocalCopy{Task: "keyed-6", Checkpoint: 10}), 2, 0,
			map[string]string{"a": "keyed-0 keyed-2 keyed-3", "b": "keyed-4 keyed-5 keyed-7", "c": "", "d": ""},
			map[string]string{"d": "keyed-3 keyed-7"},
			[]Move{{Task: "keyed-1", From: "a", To: "c"}, {Task: "keyed-6", From: "b", To: "c"}}},
		// c's copy of keyed-0 is at checkpoint 8, 2 × 200 MiB behind:
		// not caught up, but the cheapest move, so keyed-0 stays the task
		// chosen and its warm-up converges.
		{"partial copy keeps its warm-up", holders(LocalCopy{Task: "keyed-0", Checkpoint: 8}), 1, 200 << 20,
			map[string]string{"a": "keyed-0 keyed-1 keyed-2 keyed-3", "b": "keyed-4 keyed-5 keyed-6 keyed-7", "c": "", "d": ""},
			map[string]string{"c": "keyed-0"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.MaxWarmups = c.maxWarmups
			uploaded := cmp.Or(c.uploaded, 10<<20)
			out := mustAssign(t, Input{Epoch: epoch(2, keyed), Members: c.members, Progress: progress(gib, uploaded, keyed...), Options: opts})
			if got := actives(out); !reflect.DeepEqual(got, c.active) {
				t.Fatalf("actives %v, want %v", got, c.active)
			}
			warm := map[string]string{}
			for _, m := range out.Members {
				if len(m.Warmup) > 0 {
					warm[m.Member] = strings.Join(m.Warmup, " ")
				}
			}
			if !reflect.DeepEqual(warm, c.warmup) {
				t.Fatalf("warm-ups %v, want %v", warm, c.warmup)
			}
			if !reflect.DeepEqual(out.Moves, c.moves) {
				t.Fatalf("moves %+v, want %+v", out.Moves, c.moves)
			}
		})
	}
}

func TestRule5Standbys(t *testing.T) {
	keyed := stageTasks("keyed", 2, true)
	src := stageTasks("source", 2, false)
	rack := func(m Member, r string) Member { m.Rack = r; return m }
	opts := DefaultOptions()
	opts.StandbyReplicas = 1
	in := Input{Epoch: epoch(2, keyed, src), Options: opts, Progress: progress(1<<30, 1<<20, keyed...), Members: []Member{
		rack(mem("a", "keyed-0", "source-0"), "r1"),
		rack(mem("b", "keyed-1", "source-1"), "r1"),
		rack(mem("c"), "r2"),
	}}
	out := mustAssign(t, in)
	// c, the only other rack, follows both; source tasks get none.
	if got := assignmentOf(t, out, "c").Standby; !reflect.DeepEqual(got, []string{"keyed-0", "keyed-1"}) {
		t.Fatalf("c standbys %v, want both keyed tasks (other rack)", got)
	}
	for _, id := range []string{"a", "b"} {
		if s := assignmentOf(t, out, id).Standby; len(s) != 0 {
			t.Fatalf("%s standbys %v, want none (same rack as the owners, c is free)", id, s)
		}
	}

	// Without racks, standbys spread and stick to caught-up copies: b
	// holds keyed-0's copy, so it keeps following it although a fresh
	// member would also do.
	in.Members = []Member{mem("a", "keyed-0"), withLocal(mem("b", "keyed-1"), LocalCopy{Task: "keyed-0", Checkpoint: 10}), mem("c")}
	in.Epoch = epoch(2, keyed)
	opts.StandbyReplicas = 2
	in.Options = opts
	out = mustAssign(t, in)
	for _, c := range []struct {
		id   string
		want []string
	}{{"a", []string{"keyed-1"}}, {"b", []string{"keyed-0"}}, {"c", []string{"keyed-0", "keyed-1"}}} {
		if got := assignmentOf(t, out, c.id).Standby; !reflect.DeepEqual(got, c.want) {
			t.Fatalf("%s standbys %v, want %v", c.id, got, c.want)
		}
	}
	for _, m := range out.Members {
		for _, s := range m.Standby {
			for _, a := range m.Active {
				if s == a {
					t.Fatalf("%s is standby of its own active task %s", m.Member, s)
				}
			}
		}
	}
}

func TestTwoPhaseMoveAndZombie(t *testing.T) {
	src := stageTasks("source", 2, false)
	// a still lists source-1, which it was told to give up: nobody else
	// gets it. b lists source-0 with an older lease generation than a's:
	// a's claim is the valid one, b is a zombie and gets nothing of it.
	a := mem("a", "source-0", "source-1")
	a.Owned[0].LeaseGeneration = 7
	b := mem("b", "source-0")
	b.Owned[0].LeaseGeneration = 6
	out := mustAssign(t, Input{Epoch: epoch(2, src), Members: []Member{a, b}, Options: DefaultOptions()})
	if got := actives(out); got["a"] != "source-0" || got["b"] != "" {
		t.Fatalf("actives %v, want a: source-0, source-1 moving to b", got)
	}
	if want := []Move{{Task: "source-1", From: "a", To: "b"}}; !reflect.DeepEqual(out.Moves, want) {
		t.Fatalf("moves %+v, want %+v", out.Moves, want)
	}
}

func TestOtherEpochEntriesIgnored(t *testing.T) {
	// b has not read epoch 3 yet: what it owns are epoch 2's tasks, other
	// tasks with the same ids. It still gets epoch 3's tasks.
	src := stageTasks("source", 2, false)
	b := mem("b", "source-0", "source-1")
	b.Epoch = 2
	out := mustAssign(t, Input{Epoch: epoch(2, src), Members: []Member{mem("a"), b}, Options: DefaultOptions()})
	if got := actives(out); got["a"] != "source-0" || got["b"] != "source-1" {
		t.Fatalf("actives %v, want one task each", got)
	}
}

func TestIdleReason(t *testing.T) {
	out := mustAssign(t, Input{Epoch: epoch(2, stageTasks("s", 1, false)), Members: []Member{mem("a"), mem("b")}, Options: DefaultOptions()})
	if got := assignmentOf(t, out, "b").Reason; got != "idle: no task assigned (1 tasks, 2 matching instances)" {
		t.Fatalf("idle reason %q", got)
	}
	if got := assignmentOf(t, out, "a"); got.Reason != "" || len(got.Active) != 1 {
		t.Fatalf("a: %+v, want the task and no reason", got)
	}
}

func TestMissingBytes(t *testing.T) {
	p := Progress{Task: "k-0", Checkpoints: []CheckpointSize{
		{ID: 12, Previous: 11, UploadedBytes: 30, StateBytes: 1000},
		{ID: 9, Previous: 7, UploadedBytes: 50, StateBytes: 900},
		{ID: 11, Previous: 9, UploadedBytes: 20, StateBytes: 980},
	}}
	cases := []struct {
		copyAt uint64
		want   int64
	}{
		{12, 0}, {13, 0}, // at or past the newest
		{11, 30},  // one checkpoint behind
		{9, 50},   // 11 and 12
		{10, 50},  // between 9 and 11: counted from 11 on
		{8, 100},  // 9's previous is 7, and 8 > 7: 9, 11, 12
		{7, 100},  // exactly 9's previous
		{5, 1000}, // 7 not read (compacted): the whole state
		{0, 1000}, // no copy
	}
	for _, c := range cases {
		if got := MissingBytes(p, c.copyAt); got != c.want {
			t.Errorf("copy at %d: missing %d, want %d", c.copyAt, got, c.want)
		}
	}
	if got := MissingBytes(Progress{Task: "k-0"}, 0); got != 0 {
		t.Errorf("task without checkpoints: missing %d, want 0", got)
	}
	capped := Progress{Checkpoints: []CheckpointSize{{ID: 2, Previous: 1, UploadedBytes: 500, StateBytes: 300}, {ID: 1, UploadedBytes: 300, StateBytes: 300}}}
	if got := MissingBytes(capped, 1); got != 300 {
		t.Errorf("uploads beyond the state size: missing %d, want capped at 300", got)
	}
}

func TestDeterministic(t *testing.T) {
	keyed := stageTasks("keyed", 5, true)
	src := stageTasks("source", 5, false)
	opts := DefaultOptions()
	opts.StandbyReplicas = 1
	members := []Member{
		withLocal(mem("c", "keyed-4", "source-0"), LocalCopy{Task: "keyed-1", Checkpoint: 9}, LocalCopy{Task: "keyed-0", Checkpoint: 10}),
		mem("a", "keyed-0", "keyed-1", "keyed-2", "source-1", "source-3", "source-4"),
		withLocal(mem("b"), LocalCopy{Task: "keyed-3", Checkpoint: 9}),
		mem("d", "source-2"),
	}
	in := Input{Epoch: epoch(2, keyed, src), Members: members, Progress: progress(1<<30, 10<<20, keyed...), Options: opts}
	first := mustAssign(t, in)
	// The same content in another order: members, tasks, owned and local
	// entries, progress records reversed.
	rev := in
	rev.Members = nil
	for i := len(members) - 1; i >= 0; i-- {
		m := members[i]
		m.Owned = slices.Clone(m.Owned)
		slices.Reverse(m.Owned)
		m.Local = slices.Clone(m.Local)
		slices.Reverse(m.Local)
		rev.Members = append(rev.Members, m)
	}
	rev.Epoch.Tasks = slices.Clone(in.Epoch.Tasks)
	slices.Reverse(rev.Epoch.Tasks)
	rev.Progress = slices.Clone(in.Progress)
	slices.Reverse(rev.Progress)
	for range 3 {
		if again := mustAssign(t, in); !reflect.DeepEqual(again, first) {
			t.Fatalf("same input, different output:\n%+v\n%+v", first, again)
		}
		if again := mustAssign(t, rev); !reflect.DeepEqual(again, first) {
			t.Fatalf("reordered input, different output:\n%+v\n%+v", first, again)
		}
	}
	if len(first.Moves) == 0 || len(first.Members[0].Active) == 0 {
		t.Fatalf("the case should move and assign something: %+v", first)
	}
}

func TestHandoverSurvivesALargeFinalCheckpoint(t *testing.T) {
	keyed := stageTasks("keyed", 4, true)
	prog := progress(1<<30, 10<<20, keyed...)
	// Generation g: b holds a caught-up copy of keyed-2, so keyed-2 moves
	// from a (above its share) to b at once.
	in := Input{Epoch: epoch(2, keyed), Progress: prog, Options: DefaultOptions(), Members: []Member{
		mem("a", "keyed-0", "keyed-1", "keyed-2"),
		withLocal(mem("b", "keyed-3"), LocalCopy{Task: "keyed-2", Checkpoint: 10}),
	}}
	out := mustAssign(t, in)
	if want := []Move{{Task: "keyed-2", From: "a", To: "b"}}; !reflect.DeepEqual(out.Moves, want) {
		t.Fatalf("generation g: moves %+v, want %+v", out.Moves, want)
	}
	// Generation g+1: a's final checkpoint 11 uploaded 300 MiB, more than
	// acceptable_recovery_bytes, so b's copy is no longer caught up while
	// a's is. keyed-2 still goes to b (one checkpoint to fetch), not back
	// to a, which would undo the move.
	for i := range prog {
		if prog[i].Task == "keyed-2" {
			prog[i].Checkpoints = append(prog[i].Checkpoints, CheckpointSize{ID: 11, Previous: 10, UploadedBytes: 300 << 20, StateBytes: 1 << 30})
		}
	}
	in.Members = []Member{
		withLocal(mem("a", "keyed-0", "keyed-1"), LocalCopy{Task: "keyed-2", Checkpoint: 11}),
		withLocal(mem("b", "keyed-3"), LocalCopy{Task: "keyed-2", Checkpoint: 10}),
	}
	out = mustAssign(t, in)
	if got := actives(out); got["b"] != "keyed-2 keyed-3" || len(out.AboveShare) != 0 {
		t.Fatalf("generation g+1: actives %v, above share %v; want keyed-2 on b", got, out.AboveShare)
	}
	// Had b lacked more than that one checkpoint (no copy at all), a's
	// caught-up copy would win: the task runs at once, above a's share.
	in.Members[1] = mem("b", "keyed-3")
	out = mustAssign(t, in)
	if got := actives(out); got["a"] != "keyed-0 keyed-1 keyed-2" || !reflect.DeepEqual(out.AboveShare, []string{"keyed-2"}) {
		t.Fatalf("b without a copy: actives %v, above share %v; want keyed-2 back on a, above its share", got, out.AboveShare)
	}
}
