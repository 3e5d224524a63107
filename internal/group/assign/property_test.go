package assign

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPropertiesRandomHistories runs random group histories (members join,
// leave, die, come back with the local copies they kept, with capacities,
// racks and now and then a mismatching config) through many generations,
// applying each assignment the way the runtime would (§3.3: a member runs
// its active tasks, releases the rest with a final checkpoint, followers
// catch up), and checks §3.2's properties:
//
//   - per generation: no task active on two members; no task active on a
//     member other than the one still holding it; mismatching members get
//     nothing, with a reason; at most MaxWarmups warm-ups; no member
//     follows a task it runs; no task taken from a member within its
//     share beyond the excess the bound requires; the output is the same
//     for the same input, however it is ordered;
//   - once the group is stable (no membership change, assignments no
//     longer change): every task has an active owner when a member
//     matches; each member holds the floor or ceiling of its weighted
//     share of each stage (difference ≤ 1 with equal weights); each
//     stateful task has its standbys on distinct other members; the
//     tasks that moved off surviving members since the previous stable
//     state are no more than the bound needs, plus one per orphan placed
//     above its new owner's share because only that member held a
//     caught-up copy (rule 3 puts availability first).
//
// The seed is printed; TIDEMARK_ASSIGN_SEED=<seed> repeats a run and
// TIDEMARK_ASSIGN_HISTORIES=<n> runs more histories (default 60, 15 with
// -short).
func TestPropertiesRandomHistories(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TIDEMARK_ASSIGN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TIDEMARK_ASSIGN_SEED=%q: %v", s, err)
		}
		seed = v
	}
	histories := 60
	if testing.Short() {
		histories = 15
	}
	if s := os.Getenv("TIDEMARK_ASSIGN_HISTORIES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("TIDEMARK_ASSIGN_HISTORIES=%q: want a positive number", s)
		}
		histories = v
	}
	t.Logf("seed %d (repeat with TIDEMARK_ASSIGN_SEED=%d), %d histories", seed, seed, histories)
	start := time.Now()
	var gens, episodes int
	var seen simStats
	for h := range histories {
		s := newSim(t, seed, h)
		s.run()
		gens += s.gens
		episodes += s.episodes
		seen.add(s.stats)
	}
	t.Logf("%d histories, %d episodes, %d generations in %v; seen: %+v", histories, episodes, gens, time.Since(start).Round(time.Millisecond), seen)
	// The histories must reach the cases the checks are about.
	if histories >= 10 && (seen.Moves == 0 || seen.StatefulMoves == 0 || seen.Warmups == 0 || seen.Standbys == 0 ||
		seen.Mismatching == 0 || seen.Orphans == 0 || seen.AboveShare == 0) {
		t.Fatalf("the histories missed a case: %+v", seen)
	}
}

// simStats counts what the histories exercised.
type simStats struct {
	Moves, StatefulMoves, Warmups, Standbys, Orphans, AboveShare, Mismatching, Transitions int
	// LongestSettle is the most generations a change took to settle.
	LongestSettle int
}

func (x *simStats) add(y simStats) {
	x.Moves += y.Moves
	x.StatefulMoves += y.StatefulMoves
	x.Warmups += y.Warmups
	x.Standbys += y.Standbys
	x.Orphans += y.Orphans
	x.AboveShare += y.AboveShare
	x.Mismatching += y.Mismatching
	x.Transitions += y.Transitions
	x.LongestSettle = max(x.LongestSettle, y.LongestSettle)
}

const (
	simAcceptable = 256 << 20
	simStable     = 80 // generations a change may take to settle
)

type simMember struct {
	id       string
	alive    bool
	matching bool
	capacity int
	rack     string
	owned    map[string]uint64 // task -> lease generation
	copies   map[string]uint64 // task -> checkpoint of the local copy
	follows  map[string]bool   // warm-up or standby in the last assignment
}

type sim struct {
	t        *testing.T
	rng      *rand.Rand
	name     string // seed and history, for failure messages
	epoch    Epoch
	stateful map[string]bool
	history  map[string][]CheckpointSize // per task, ascending
	leaseGen map[string]uint64
	members  []*simMember // in creation order
	opts     Options
	weighted bool
	next     int // member ids

	gens, episodes int
	step           string // the last membership change, for messages
	// overflows counts, since the last membership change, orphans placed
	// above their new owner's share because only that member held a
	// caught-up copy (§3.2 rule 3): each may cost one more move later.
	overflows int
	gone      map[string]bool // members gone during the episode (maybe back): not survivors
	trace     bool            // TIDEMARK_ASSIGN_TRACE=1: log every generation
	stats     simStats
}

func newSim(t *testing.T, seed uint64, h int) *sim {
	rng := rand.New(rand.NewPCG(seed, uint64(h)))
	s := &sim{
		t: t, rng: rng, name: fmt.Sprintf("seed %d history %d", seed, h),
		stateful: map[string]bool{}, history: map[string][]CheckpointSize{}, leaseGen: map[string]uint64{},
		weighted: rng.IntN(4) == 0,
		trace:    os.Getenv("TIDEMARK_ASSIGN_TRACE") != "",
	}
	p := 1 + rng.IntN(7)
	s.epoch = Epoch{Number: 5, Fingerprint: "fp", Parallelism: p}
	stageNames := []string{"source:events", "counts", "maxn"}[:1+rng.IntN(3)]
	for i, st := range stageNames {
		stateful := i > 0 || rng.IntN(5) == 0
		for j := range p {
			id := fmt.Sprintf("%s-%d", st, j)
			s.epoch.Tasks = append(s.epoch.Tasks, Task{ID: id, Stage: st, Stateful: stateful})
			s.stateful[id] = stateful
		}
	}
	s.opts = Options{StandbyReplicas: rng.IntN(3), MaxWarmups: 1 + rng.IntN(3), AcceptableRecoveryBytes: simAcceptable}
	for range 1 + rng.IntN(4) {
		s.join()
	}
	return s
}

func (s *sim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s, generation %d after %s: %s", s.name, s.gens, s.step, fmt.Sprintf(format, args...))
}

func (s *sim) join() {
	m := &simMember{id: fmt.Sprintf("m%02d", s.next), alive: true, matching: s.rng.IntN(10) != 0, capacity: 1,
		owned: map[string]uint64{}, copies: map[string]uint64{}, follows: map[string]bool{}}
	s.next++
	if s.weighted {
		m.capacity = 1 + s.rng.IntN(3)
	}
	if s.rng.IntN(2) == 0 {
		m.rack = fmt.Sprintf("r%d", s.rng.IntN(3))
	}
	s.members = append(s.members, m)
}

// change applies one or two random membership changes.
func (s *sim) change() {
	var steps []string
	for range 1 + s.rng.IntN(2) {
		var alive, dead []*simMember
		for _, m := range s.members {
			if m.alive {
				alive = append(alive, m)
			} else {
				dead = append(dead, m)
			}
		}
		switch r := s.rng.IntN(10); {
		case r < 3 && len(alive) < 8:
			s.join()
			steps = append(steps, "join "+s.members[len(s.members)-1].id)
		case r < 6 && len(alive) > 0:
			// Dies or leaves: for the assignor both mean gone. It keeps
			// its local copies on disk; a restart finds them.
			m := alive[s.rng.IntN(len(alive))]
			m.alive = false
			m.owned = map[string]uint64{}
			m.follows = map[string]bool{}
			s.gone[m.id] = true
			steps = append(steps, "gone "+m.id)
		case len(dead) > 0:
			m := dead[s.rng.IntN(len(dead))]
			m.alive = true
			if s.rng.IntN(4) == 0 {
				m.copies = map[string]uint64{} // came back on a fresh disk
			}
			steps = append(steps, "back "+m.id)
		default:
			s.join()
			steps = append(steps, "join "+s.members[len(s.members)-1].id)
		}
	}
	s.step = strings.Join(steps, ", ")
}

// checkpoint records a completed checkpoint of task id and returns it.
func (s *sim) checkpoint(id string) uint64 {
	h := s.history[id]
	var prev CheckpointSize
	if len(h) > 0 {
		prev = h[len(h)-1]
	}
	up := int64(s.rng.IntN(300)) << 20
	state := max(prev.StateBytes+up-int64(s.rng.IntN(200))<<20, up)
	c := CheckpointSize{ID: prev.ID + 1 + uint64(s.rng.IntN(2)), Previous: prev.ID, UploadedBytes: up, StateBytes: state}
	s.history[id] = append(h, c)
	return c.ID
}

func (s *sim) newest(id string) uint64 {
	if h := s.history[id]; len(h) > 0 {
		return h[len(h)-1].ID
	}
	return 0
}

// input builds the generation's input; shuffled also reorders every list.
func (s *sim) input(shuffled bool, keep []bool) Input {
	in := Input{Epoch: s.epoch, Options: s.opts}
	in.Epoch.Tasks = slices.Clone(s.epoch.Tasks)
	for _, m := range s.members {
		if !m.alive {
			continue
		}
		md := Metadata{Fingerprint: "fp", Parallelism: s.epoch.Parallelism, Epoch: s.epoch.Number, Capacity: m.capacity, Rack: m.rack}
		if !m.matching {
			md.Parallelism++
		}
		for _, id := range sortedKeys(m.owned) {
			md.Owned = append(md.Owned, OwnedTask{Task: id, LeaseGeneration: m.owned[id]})
		}
		for _, id := range sortedKeys(m.copies) {
			md.Local = append(md.Local, LocalCopy{Task: id, Checkpoint: m.copies[id]})
		}
		if shuffled {
			s.rng.Shuffle(len(md.Owned), func(i, j int) { md.Owned[i], md.Owned[j] = md.Owned[j], md.Owned[i] })
			s.rng.Shuffle(len(md.Local), func(i, j int) { md.Local[i], md.Local[j] = md.Local[j], md.Local[i] })
		}
		in.Members = append(in.Members, Member{ID: m.id, Metadata: md})
	}
	// The tasks topic is compacted: the leader has read the newest
	// records of each task and only some older ones.
	k := 0
	for _, task := range s.epoch.Tasks {
		h := s.history[task.ID]
		p := Progress{Task: task.ID}
		for i, c := range h {
			if i >= len(h)-4 || keep[k%len(keep)] {
				p.Checkpoints = append(p.Checkpoints, c)
			}
			k++
		}
		if len(p.Checkpoints) > 0 {
			in.Progress = append(in.Progress, p)
		}
	}
	if shuffled {
		r := s.rng
		r.Shuffle(len(in.Members), func(i, j int) { in.Members[i], in.Members[j] = in.Members[j], in.Members[i] })
		r.Shuffle(len(in.Epoch.Tasks), func(i, j int) { in.Epoch.Tasks[i], in.Epoch.Tasks[j] = in.Epoch.Tasks[j], in.Epoch.Tasks[i] })
		r.Shuffle(len(in.Progress), func(i, j int) { in.Progress[i], in.Progress[j] = in.Progress[j], in.Progress[i] })
		for _, p := range in.Progress {
			r.Shuffle(len(p.Checkpoints), func(i, j int) { p.Checkpoints[i], p.Checkpoints[j] = p.Checkpoints[j], p.Checkpoints[i] })
		}
	}
	return in
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// generation runs one assignment, checks it, applies it and returns it.
func (s *sim) generation() Output {
	s.t.Helper()
	s.gens++
	keep := make([]bool, 7)
	for i := range keep {
		keep[i] = s.rng.IntN(3) == 0
	}
	in := s.input(false, keep)
	out, err := Assign(in)
	if err != nil {
		s.fatalf("Assign: %v", err)
	}
	again, err := Assign(s.input(true, keep))
	if err != nil || !reflect.DeepEqual(again, out) {
		s.fatalf("not deterministic: the shuffled input gave\n%+v\nthe ordered one\n%+v (err %v)", again, out, err)
	}
	if s.trace {
		s.t.Logf("%s gen %d after %s:", s.name, s.gens, s.step)
		for _, m := range in.Members {
			s.t.Logf("  in  %s cap %d owned %v local %v", m.ID, m.Capacity, m.Owned, m.Local)
		}
		for _, m := range out.Members {
			s.t.Logf("  out %s active %v warmup %v standby %v", m.Member, m.Active, m.Warmup, m.Standby)
		}
		s.t.Logf("  moves %v", out.Moves)
	}
	s.checkGeneration(in, out)
	s.count(in, out)
	s.apply(out)
	return out
}

func (s *sim) checkGeneration(in Input, out Output) {
	s.t.Helper()
	if out.Transition != nil {
		for _, m := range in.Members {
			if m.Parallelism == s.epoch.Parallelism || len(m.Owned) > 0 {
				s.fatalf("transition %+v although %s matches or runs tasks", out.Transition, m.ID)
			}
		}
		return
	}
	holders := map[string][]string{}
	matching := map[string]bool{}
	for _, m := range in.Members {
		matching[m.ID] = m.Parallelism == s.epoch.Parallelism
		for _, o := range m.Owned {
			holders[o.Task] = append(holders[o.Task], m.ID)
		}
	}
	activeOn := map[string]string{}
	warmups := 0
	for _, ma := range out.Members {
		if !matching[ma.Member] {
			if len(ma.Active)+len(ma.Warmup)+len(ma.Standby) > 0 || !strings.HasPrefix(ma.Reason, "config differs from epoch 5: parallelism") {
				s.fatalf("mismatching %s got %+v", ma.Member, ma.Assignment)
			}
			continue
		}
		for _, id := range ma.Active {
			if other, ok := activeOn[id]; ok {
				s.fatalf("%s active on %s and %s", id, other, ma.Member)
			}
			activeOn[id] = ma.Member
			if hs := holders[id]; len(hs) > 0 && !slices.Contains(hs, ma.Member) {
				s.fatalf("%s given to %s while %v still holds it", id, ma.Member, hs)
			}
		}
		warmups += len(ma.Warmup)
		for _, id := range append(slices.Clone(ma.Warmup), ma.Standby...) {
			if slices.Contains(ma.Active, id) {
				s.fatalf("%s follows %s, which it runs", ma.Member, id)
			}
		}
	}
	for _, id := range out.AboveShare {
		if len(holders[id]) > 0 {
			s.fatalf("%s listed above share although %v holds it", id, holders[id])
		}
	}
	s.overflows += len(out.AboveShare)
	if warmups > s.opts.MaxWarmups {
		s.fatalf("%d warm-ups, more than %d", warmups, s.opts.MaxWarmups)
	}
	// Revoked from matching members: at most the excess over the shares.
	counts := map[string]map[string]int{} // stage -> member -> held
	revoked := map[string]int{}
	for _, m := range in.Members {
		if !matching[m.ID] {
			continue
		}
		act := activeOf(out, m.ID)
		for _, o := range m.Owned {
			st := stageOf(s.epoch, o.Task)
			if counts[st] == nil {
				counts[st] = map[string]int{}
			}
			counts[st][m.ID]++
			if !slices.Contains(act, o.Task) {
				revoked[st]++
			}
		}
	}
	for st, n := range revoked {
		if need := s.minMoves(in, st, counts[st]); n > need {
			s.fatalf("stage %s: %d tasks taken from matching members, the bound needs %d (held %v)", st, n, need, counts[st])
		}
	}
}

func (s *sim) count(in Input, out Output) {
	held := map[string]bool{}
	for _, m := range in.Members {
		if m.Parallelism != s.epoch.Parallelism {
			s.stats.Mismatching++
		}
		for _, o := range m.Owned {
			held[o.Task] = true
		}
	}
	for _, mv := range out.Moves {
		s.stats.Moves++
		if s.stateful[mv.Task] {
			s.stats.StatefulMoves++
		}
	}
	for _, m := range out.Members {
		s.stats.Warmups += len(m.Warmup)
		s.stats.Standbys += len(m.Standby)
		for _, id := range m.Active {
			if !held[id] {
				s.stats.Orphans++
			}
		}
	}
	s.stats.AboveShare += len(out.AboveShare)
	if out.Transition != nil {
		s.stats.Transitions++
	}
}

func activeOf(out Output, id string) []string {
	for _, m := range out.Members {
		if m.Member == id {
			return m.Active
		}
	}
	return nil
}

func stageOf(e Epoch, id string) string {
	for _, t := range e.Tasks {
		if t.ID == id {
			return t.Stage
		}
	}
	return ""
}

// shares returns each matching member's floor and whether its share has
// a fractional part, and the number of ceilings available, for a stage.
func (s *sim) shares(in Input, stage string) (floor map[string]int, frac map[string]bool, extra int) {
	n := 0
	for _, t := range s.epoch.Tasks {
		if t.Stage == stage {
			n++
		}
	}
	w := 0
	for _, m := range in.Members {
		if m.Parallelism == s.epoch.Parallelism {
			w += max(m.Capacity, 1)
		}
	}
	floor, frac, extra = map[string]int{}, map[string]bool{}, n
	for _, m := range in.Members {
		if m.Parallelism == s.epoch.Parallelism {
			c := max(m.Capacity, 1)
			floor[m.ID] = n * c / w
			frac[m.ID] = n*c%w != 0
			extra -= floor[m.ID]
		}
	}
	return floor, frac, extra
}

// minMoves is the fewest tasks that must leave the members running them
// for every member to end within the floor or ceiling of its share, given
// held: member -> tasks of the stage it runs.
func (s *sim) minMoves(in Input, stage string, held map[string]int) int {
	floor, frac, extra := s.shares(in, stage)
	need, over := 0, 0
	for id, h := range held {
		if f, ok := floor[id]; ok && h > f {
			need += h - f
			if frac[id] {
				over++
			}
		}
	}
	return need - min(extra, over)
}

// apply runs out the way the runtime would.
func (s *sim) apply(out Output) {
	if out.Transition != nil {
		return
	}
	byID := map[string]*simMember{}
	for _, m := range s.members {
		byID[m.id] = m
	}
	for _, ma := range out.Members {
		m := byID[ma.Member]
		// Revoked tasks: a final checkpoint, then released; the copy stays.
		for _, id := range sortedKeys(m.owned) {
			if !slices.Contains(ma.Active, id) {
				m.copies[id] = s.checkpoint(id)
				delete(m.owned, id)
			}
		}
		// New tasks: claim the next lease generation, restore (local files
		// plus the download), run.
		for _, id := range ma.Active {
			if _, ok := m.owned[id]; !ok {
				s.leaseGen[id]++
				m.owned[id] = s.leaseGen[id]
				m.copies[id] = s.newest(id)
			}
		}
		m.follows = map[string]bool{}
		for _, id := range append(slices.Clone(ma.Warmup), ma.Standby...) {
			m.follows[id] = true
		}
	}
	// Running tasks checkpoint now and then; followers catch up or not.
	for _, m := range s.members {
		if !m.alive {
			continue
		}
		for _, id := range sortedKeys(m.owned) {
			if s.rng.IntN(3) != 0 {
				m.copies[id] = s.checkpoint(id)
			}
		}
	}
	for _, m := range s.members {
		if !m.alive {
			continue
		}
		for _, id := range sortedKeys(m.follows) {
			if s.rng.IntN(2) == 0 {
				m.copies[id] = s.newest(id)
			}
		}
		// Now and then the retention drops a copy nobody needs here.
		for _, id := range sortedKeys(m.copies) {
			if _, own := m.owned[id]; !own && !m.follows[id] && s.rng.IntN(20) == 0 {
				delete(m.copies, id)
			}
		}
	}
}

// snapshot is who runs what in a stable state.
type snapshot map[string]string // task -> member

func (s *sim) settle() (Output, snapshot) {
	s.t.Helper()
	var prev Output
	for i := range simStable {
		out := s.generation()
		steady := len(out.Moves) == 0 && reflect.DeepEqual(out, prev)
		for _, m := range out.Members {
			if len(m.Warmup) > 0 {
				steady = false
			}
		}
		if steady && i > 0 {
			s.stats.LongestSettle = max(s.stats.LongestSettle, i)
			snap := snapshot{}
			for _, m := range out.Members {
				for _, id := range m.Active {
					snap[id] = m.Member
				}
			}
			return out, snap
		}
		prev = out
	}
	s.fatalf("no stable assignment after %d generations", simStable)
	return Output{}, nil
}

func (s *sim) run() {
	s.t.Helper()
	s.step = "start"
	_, before := s.settle()
	for range 6 + s.rng.IntN(10) {
		s.gone = map[string]bool{}
		s.change()
		s.episodes++
		s.overflows = 0
		out, after := s.settle()
		s.checkStable(out, before, after)
		before = after
	}
}

func (s *sim) checkStable(out Output, before, after snapshot) {
	s.t.Helper()
	in := s.input(false, []bool{true})
	var matching []Member
	for _, m := range in.Members {
		if m.Parallelism == s.epoch.Parallelism {
			matching = append(matching, m)
		}
	}
	if len(matching) == 0 {
		if len(after) != 0 {
			s.fatalf("no member matches, yet tasks run: %v", after)
		}
		return
	}
	for _, task := range s.epoch.Tasks {
		if _, ok := after[task.ID]; !ok {
			s.fatalf("stable, yet %s has no active owner: %+v", task.ID, out)
		}
	}
	// Each member within the floor and ceiling of its share per stage.
	stages := map[string]bool{}
	for _, task := range s.epoch.Tasks {
		stages[task.Stage] = true
	}
	for _, st := range sortedKeys(stages) {
		floor, frac, _ := s.shares(in, st)
		cnt := map[string]int{}
		for id, m := range after {
			if stageOf(s.epoch, id) == st {
				cnt[m]++
			}
		}
		lo, hi := 1<<30, 0
		for _, m := range matching {
			c := cnt[m.ID]
			ceil := floor[m.ID] + b2i(frac[m.ID])
			if c < floor[m.ID] || c > ceil {
				s.fatalf("stage %s: %s runs %d tasks, share between %d and %d: %v", st, m.ID, c, floor[m.ID], ceil, cnt)
			}
			lo, hi = min(lo, c), max(hi, c)
		}
		if !s.weighted && hi-lo > 1 {
			s.fatalf("stage %s: load %d to %d with equal weights: %v", st, lo, hi, cnt)
		}
		// Tasks that left surviving members since the last stable state:
		// no more than the bound needs from what they ran then.
		held := map[string]int{}
		moved := 0
		for id, m := range before {
			if stageOf(s.epoch, id) != st {
				continue
			}
			if _, alive := floor[m]; alive && !s.gone[m] {
				held[m]++
				if after[id] != m {
					moved++
				}
			}
		}
		if need := s.minMoves(in, st, held); moved > need+s.overflows {
			s.fatalf("stage %s: %d tasks left surviving members, the bound needs %d, plus %d for orphans placed above a share (before %v, after %v)",
				st, moved, need, s.overflows, before, after)
		}
	}
	// Standbys: min(replicas, matching-1) per stateful task, distinct,
	// never on its owner.
	for _, task := range s.epoch.Tasks {
		if !task.Stateful {
			continue
		}
		var on []string
		for _, m := range out.Members {
			if slices.Contains(m.Standby, task.ID) {
				on = append(on, m.Member)
			}
		}
		if want := min(s.opts.StandbyReplicas, len(matching)-1); len(on) != want || slices.Contains(on, after[task.ID]) {
			s.fatalf("%s (owner %s) has standbys on %v, want %d others", task.ID, after[task.ID], on, want)
		}
	}
}
