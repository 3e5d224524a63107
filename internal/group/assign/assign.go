package assign

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// ErrInvalidInput is returned (wrapped, naming the bad member or task) for
// an input Assign cannot work from: duplicate or empty ids, an epoch
// without number or tasks, negative options.
var ErrInvalidInput = errors.New("assign: invalid input")

// ErrMemberAhead is returned (wrapped, naming the member) when a member has
// read a newer epoch than the one the leader assigns: the leader's view is
// stale and it must read the epochs again before assigning.
var ErrMemberAhead = errors.New("assign: a member has read a newer epoch than the leader")

// member is the assignor's working copy of one member.
type member struct {
	id       string
	md       Metadata
	weight   int64
	matching bool
	current  bool              // md.Epoch is the epoch being assigned
	copies   map[string]uint64 // task -> checkpoint of its local copy (current only)
	diff     string            // what differs from the epoch, "" if it matches
	reason   string

	active, warmup, standby []string
	incoming                int // tasks moving to it in the next generation
	total                   int // active tasks plus reserved incoming, all stages so far
	standbys                int
}

// task is the assignor's working copy of one task.
type task struct {
	Task
	prog      progressIndex
	holder    int // index of the member running it now, -1 if none
	holderGen uint64
	owner     int // active owner in this generation, -1 if none
	target    int // planned owner of a move or warm-up target, -1 if none
}

// Assign computes one generation's assignment from in, applying the rules
// of docs/scale-out.md §3.2 in order:
//
//  1. Members whose fingerprint or parallelism differs from the epoch's get
//     nothing, with a reason saying what differs and how to proceed. If no
//     member matches, all agree on a configuration differing only by
//     parallelism, and the epoch runs nowhere, Output.Transition asks for
//     a new epoch (§8.4). A stopped epoch's tasks go to nobody.
//  2. Sticky: a task stays with the member running it while that member
//     stays within its share of the task's stage.
//  3. Orphans go to a member with room holding a caught-up copy; else to
//     one with room that was caught up one checkpoint ago (a handover
//     target); else, if stateful, to a full member holding a caught-up copy
//     (it runs at once, listed in Output.AboveShare; rule 4 later evens the
//     load); else to the least loaded member with room.
//  4. Balance per stage, weighted by capacity: each member ends with the
//     floor or the ceiling of its share. A task leaving a member that holds
//     more moves at once if it is stateless or its target holds a
//     caught-up copy, else the target gets it as a warm-up (at most
//     Options.MaxWarmups in the group) and it stays where it is.
//  5. Standbys: Options.StandbyReplicas followers per stateful task on
//     members other than its owner, other racks first.
//
// Moves are two-phase (§3.3): a task that leaves the member running it is
// assigned to nobody in this generation and listed in Output.Moves; the
// next generation, where that member no longer lists it, gives it to its
// target. Members and tasks are handled in id order, so the output depends
// only on the input's content, not on its order.
func Assign(in Input) (Output, error) {
	if err := validate(in); err != nil {
		return Output{}, err
	}
	e := in.Epoch
	ms := make([]*member, len(in.Members))
	for i := range in.Members {
		src := in.Members[i]
		m := &member{id: src.ID, md: src.Metadata, weight: int64(max(src.Capacity, 1))}
		m.current = m.md.Epoch == e.Number
		m.diff, m.reason = mismatch(e, m.md)
		m.matching = m.reason == ""
		ms[i] = m
	}
	slices.SortFunc(ms, func(a, b *member) int { return strings.Compare(a.id, b.id) })

	ts := make([]*task, len(e.Tasks))
	byID := make(map[string]*task, len(e.Tasks))
	prog := make(map[string]Progress, len(in.Progress))
	for _, p := range in.Progress {
		prog[p.Task] = p
	}
	for i, t := range e.Tasks {
		ts[i] = &task{Task: t, prog: newProgressIndex(prog[t.ID]), holder: -1, owner: -1, target: -1}
		byID[t.ID] = ts[i]
	}
	slices.SortFunc(ts, func(a, b *task) int {
		return cmp.Or(strings.Compare(a.Stage, b.Stage), strings.Compare(a.ID, b.ID))
	})

	// Holders: who runs each task now. Entries of another epoch name other
	// tasks (a task's store prefix and lease carry the epoch) and are
	// ignored. Two members listing one task happens only with a zombie:
	// the higher lease generation is the valid claim.
	for mi, m := range ms {
		if !m.current {
			continue
		}
		m.copies = make(map[string]uint64, len(m.md.Local))
		for _, c := range m.md.Local {
			m.copies[c.Task] = max(m.copies[c.Task], c.Checkpoint)
		}
		for _, o := range m.md.Owned {
			t := byID[o.Task]
			if t == nil {
				continue
			}
			if t.holder < 0 || o.LeaseGeneration > t.holderGen {
				t.holder, t.holderGen = mi, o.LeaseGeneration
			}
		}
	}

	out := Output{Members: make([]MemberAssignment, len(ms))}
	if t := transition(e, ms, ts); t != nil {
		out.Transition = t
		for i, m := range ms {
			out.Members[i] = MemberAssignment{Member: m.id, Assignment: Assignment{Epoch: e.Number,
				Reason: fmt.Sprintf("%s; starting epoch %d with parallelism %d from epoch %d's checkpoints",
					m.diff, e.Number+1, t.Parallelism, e.Number)}}
		}
		return out, nil
	}
	if e.StoppedBy != "" {
		for i, m := range ms {
			r := m.reason
			if r == "" {
				r = fmt.Sprintf("job stopped by savepoint %s at epoch %d", e.StoppedBy, e.Number)
			}
			out.Members[i] = MemberAssignment{Member: m.id, Assignment: Assignment{Epoch: e.Number, Reason: r}}
		}
		return out, nil
	}

	a := &assigner{ms: ms, opts: in.Options}
	for _, m := range ms {
		if m.matching {
			a.matching = append(a.matching, m)
		}
	}
	for _, stage := range stages(ts) {
		a.stage(stage, &out)
	}
	if in.Options.StandbyReplicas > 0 && len(a.matching) > 1 {
		for _, t := range ts {
			if t.Stateful {
				a.standbys(t)
			}
		}
	}

	matching := len(a.matching)
	for i, m := range ms {
		slices.Sort(m.active)
		slices.Sort(m.warmup)
		slices.Sort(m.standby)
		r := m.reason
		if r == "" && len(m.active)+len(m.warmup)+len(m.standby)+m.incoming == 0 {
			r = fmt.Sprintf("idle: no task assigned (%d tasks, %d matching instances)", len(ts), matching)
		}
		out.Members[i] = MemberAssignment{Member: m.id, Assignment: Assignment{
			Epoch: e.Number, Active: m.active, Warmup: m.warmup, Standby: m.standby, Reason: r}}
	}
	slices.SortFunc(out.Moves, func(x, y Move) int { return strings.Compare(x.Task, y.Task) })
	slices.Sort(out.AboveShare)
	return out, nil
}

func validate(in Input) error {
	e := in.Epoch
	if e.Number == 0 {
		return fmt.Errorf("%w: epoch number 0 (epochs start at 1)", ErrInvalidInput)
	}
	if len(e.Tasks) == 0 {
		return fmt.Errorf("%w: epoch %d has no tasks", ErrInvalidInput, e.Number)
	}
	o := in.Options
	if o.StandbyReplicas < 0 || o.MaxWarmups < 0 || o.AcceptableRecoveryBytes < 0 {
		return fmt.Errorf("%w: negative option (standby replicas %d, max warmups %d, acceptable recovery bytes %d)",
			ErrInvalidInput, o.StandbyReplicas, o.MaxWarmups, o.AcceptableRecoveryBytes)
	}
	seen := make(map[string]bool, len(e.Tasks))
	for _, t := range e.Tasks {
		if t.ID == "" {
			return fmt.Errorf("%w: epoch %d has a task with an empty id", ErrInvalidInput, e.Number)
		}
		if seen[t.ID] {
			return fmt.Errorf("%w: epoch %d lists task %q twice", ErrInvalidInput, e.Number, t.ID)
		}
		seen[t.ID] = true
	}
	ids := make(map[string]bool, len(in.Members))
	for _, m := range in.Members {
		if m.ID == "" {
			return fmt.Errorf("%w: a member has an empty id", ErrInvalidInput)
		}
		if ids[m.ID] {
			return fmt.Errorf("%w: member %q appears twice", ErrInvalidInput, m.ID)
		}
		ids[m.ID] = true
		if m.Capacity < 0 {
			return fmt.Errorf("%w: member %q has capacity %d", ErrInvalidInput, m.ID, m.Capacity)
		}
		if m.Epoch > e.Number {
			return fmt.Errorf("%w: member %q has read epoch %d, the leader assigns epoch %d: read the epochs again",
				ErrMemberAhead, m.ID, m.Epoch, e.Number)
		}
	}
	return nil
}

// mismatch returns what differs between a member's metadata md and epoch
// e, and the reason it gets nothing (what differs and how to proceed); ""
// twice if it may run the epoch.
func mismatch(e Epoch, md Metadata) (diff, reason string) {
	var diffs []string
	if md.Parallelism != e.Parallelism {
		diffs = append(diffs, fmt.Sprintf("parallelism %d vs %d", md.Parallelism, e.Parallelism))
	}
	if md.Fingerprint != e.Fingerprint {
		diffs = append(diffs, fmt.Sprintf("topology fingerprint %s vs %s", short(md.Fingerprint), short(e.Fingerprint)))
	}
	if len(diffs) == 0 {
		return "", ""
	}
	diff = fmt.Sprintf("config differs from epoch %d: %s", e.Number, strings.Join(diffs, ", "))
	if md.Fingerprint != e.Fingerprint {
		return diff, diff + " (this instance vs the epoch); the operators, job.max_parallelism or exchange settings changed: run this instance with the epoch's config, or start the job afresh (--fresh)"
	}
	return diff, diff + fmt.Sprintf(" (this instance vs the epoch); to rescale, stop the job (processor savepoint --stop) and start every instance with job.parallelism %d; to join the running job, set job.parallelism to %d",
		md.Parallelism, e.Parallelism)
}

func short(fp string) string {
	if fp == "" {
		return `""`
	}
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

// transition returns the epoch transition rule 1 asks for, or nil.
func transition(e Epoch, ms []*member, ts []*task) *Transition {
	if len(ms) == 0 {
		return nil
	}
	p := ms[0].md.Parallelism
	for _, m := range ms {
		if m.matching || m.md.Fingerprint != e.Fingerprint || m.md.Parallelism != p || p < 1 {
			return nil
		}
	}
	if e.StoppedBy == "" {
		for _, t := range ts {
			if t.holder >= 0 {
				return nil // the epoch still runs somewhere
			}
		}
	}
	return &Transition{From: e.Number, Parallelism: p}
}

// stages returns the tasks grouped by stage, stages in name order (ts is
// sorted by stage, then id).
func stages(ts []*task) [][]*task {
	var out [][]*task
	for i := 0; i < len(ts); {
		j := i + 1
		for j < len(ts) && ts[j].Stage == ts[i].Stage {
			j++
		}
		out = append(out, ts[i:j])
		i = j
	}
	return out
}

type assigner struct {
	ms       []*member
	matching []*member
	opts     Options
	warmups  int
}

func (a *assigner) index(m *member) int {
	i, _ := slices.BinarySearchFunc(a.ms, m.id, func(x *member, id string) int { return strings.Compare(x.id, id) })
	return i
}

// missing returns how many bytes member m lacks to run t (0 for a
// stateless task).
func (a *assigner) missing(t *task, m *member) int64 {
	if !t.Stateful {
		return 0
	}
	return t.prog.missing(m.copies[t.ID])
}

func (a *assigner) caughtUp(t *task, m *member) bool {
	return a.missing(t, m) <= a.opts.AcceptableRecoveryBytes
}

// stageState is the per-stage bookkeeping of rules 2–4.
type stageState struct {
	quota map[*member]int // the member's share: floor or ceiling
	count map[*member]int // active tasks of the stage plus reserved incoming
}

// lessLoaded orders members by their load in the stage (count/weight),
// then by their load over all stages so far, then by id.
func (s *stageState) lessLoaded(x, y *member) int {
	return cmp.Or(
		cmp.Compare(int64(s.count[x])*y.weight, int64(s.count[y])*x.weight),
		cmp.Compare(int64(x.total)*y.weight, int64(y.total)*x.weight),
		strings.Compare(x.id, y.id))
}

func (s *stageState) hasRoom(m *member) bool { return s.count[m] < s.quota[m] }

func (a *assigner) stage(ts []*task, out *Output) {
	s := &stageState{quota: map[*member]int{}, count: map[*member]int{}}
	if len(a.matching) == 0 {
		for _, t := range ts {
			if t.holder >= 0 {
				out.Moves = append(out.Moves, Move{Task: t.ID, From: a.ms[t.holder].id})
			}
		}
		return
	}

	// Quotas: the floor of each member's weighted share, plus one for as
	// many members as the remainder allows, first for members already
	// running more than their floor (so as few tasks as possible move),
	// then for those with the larger remainder, the less loaded, the
	// smaller id.
	n := int64(len(ts))
	var weights int64
	for _, m := range a.matching {
		weights += m.weight
	}
	held := map[*member]int{}
	for _, t := range ts {
		if t.holder >= 0 && a.ms[t.holder].matching {
			held[a.ms[t.holder]]++
		}
	}
	rem := map[*member]int64{}
	extra := n
	var cands []*member
	for _, m := range a.matching {
		q := n * m.weight / weights
		s.quota[m] = int(q)
		rem[m] = n * m.weight % weights
		extra -= q
		if rem[m] > 0 {
			cands = append(cands, m)
		}
	}
	slices.SortFunc(cands, func(x, y *member) int {
		return cmp.Or(
			-cmp.Compare(b2i(held[x] > s.quota[x]), b2i(held[y] > s.quota[y])),
			-cmp.Compare(rem[x]*y.weight, rem[y]*x.weight),
			cmp.Compare(int64(x.total)*y.weight, int64(y.total)*x.weight),
			strings.Compare(x.id, y.id))
	})
	for _, m := range cands[:extra] {
		s.quota[m]++
	}

	// Rule 2, sticky: a holder within its quota keeps everything; one
	// above keeps the tasks that are dearest to move (stateful ones no
	// member with room holds a caught-up copy of) and offers the rest.
	moveCost := func(t *task) int64 {
		best := int64(math.MaxInt64) // no member has room: it stays anyway
		for _, m := range a.matching {
			if held[m] < s.quota[m] && a.ms[t.holder] != m {
				best = min(best, a.missing(t, m))
			}
		}
		return best
	}
	byHolder := map[*member][]*task{}
	var orphans, release []*task
	for _, t := range ts {
		switch {
		case t.holder < 0:
			orphans = append(orphans, t)
		case !a.ms[t.holder].matching:
			release = append(release, t)
		default:
			byHolder[a.ms[t.holder]] = append(byHolder[a.ms[t.holder]], t)
		}
	}
	var excess []*task
	for _, m := range a.matching {
		own := byHolder[m]
		if len(own) > s.quota[m] {
			cost := make(map[*task]int64, len(own))
			for _, t := range own {
				cost[t] = moveCost(t)
			}
			slices.SortFunc(own, func(x, y *task) int {
				return cmp.Or(-cmp.Compare(cost[x], cost[y]), strings.Compare(x.ID, y.ID))
			})
			excess = append(excess, own[s.quota[m]:]...)
			own = own[:s.quota[m]]
		}
		for _, t := range own {
			a.activate(s, t, m)
		}
	}

	// Rule 3, orphans: those with a caught-up copy somewhere first, so
	// they find room on its holder before others fill it.
	best := map[*task]int64{}
	for _, t := range orphans {
		best[t] = -1
		for _, m := range a.matching {
			if c := a.missing(t, m); best[t] < 0 || c < best[t] {
				best[t] = c
			}
		}
	}
	slices.SortFunc(orphans, func(x, y *task) int {
		return cmp.Or(cmp.Compare(best[x], best[y]), strings.Compare(x.ID, y.ID))
	})
	for _, t := range orphans {
		m := a.orphanTarget(s, t)
		if !s.hasRoom(m) {
			out.AboveShare = append(out.AboveShare, t.ID)
		}
		a.activate(s, t, m)
	}

	// Tasks whose holder may no longer run them (its config differs) move:
	// nobody runs them in this generation.
	slices.SortFunc(excess, func(x, y *task) int { return strings.Compare(x.ID, y.ID) })
	for _, t := range release {
		to := ""
		if m := a.target(s, t, true); m != nil {
			s.count[m]++
			m.total++
			m.incoming++
			t.target = a.index(m)
			to = m.id
		}
		out.Moves = append(out.Moves, Move{Task: t.ID, From: a.ms[t.holder].id, To: to})
	}

	// Rule 4, balance: each task above its holder's quota moves to a member
	// with room, at once if it may, else through a warm-up.
	for _, t := range excess {
		from := a.ms[t.holder]
		m := a.target(s, t, true)
		switch {
		case m == nil:
			a.activate(s, t, from)
		case !t.Stateful || a.caughtUp(t, m):
			s.count[m]++
			m.total++
			m.incoming++
			t.target = a.index(m)
			out.Moves = append(out.Moves, Move{Task: t.ID, From: from.id, To: m.id})
		case a.warmups < a.opts.MaxWarmups:
			a.warmups++
			s.count[m]++ // its room is kept for the task
			m.warmup = append(m.warmup, t.ID)
			t.target = a.index(m)
			a.activate(s, t, from)
		default:
			a.activate(s, t, from)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (a *assigner) activate(s *stageState, t *task, m *member) {
	m.active = append(m.active, t.ID)
	s.count[m]++
	m.total++
	t.owner = a.index(m)
}

// target returns the member with room that should receive t: the one
// lacking the fewest bytes of it, then the least loaded; nil if no member
// has room. The task's holder is never its target.
func (a *assigner) target(s *stageState, t *task, needRoom bool) *member {
	var best *member
	var bestMissing int64
	for _, m := range a.matching {
		if (needRoom && !s.hasRoom(m)) || (t.holder >= 0 && a.ms[t.holder] == m) {
			continue
		}
		c := a.missing(t, m)
		if best == nil || c < bestMissing || (c == bestMissing && s.lessLoaded(m, best) < 0) {
			best, bestMissing = m, c
		}
	}
	return best
}

// orphanTarget applies rule 3 to a task nobody runs.
func (a *assigner) orphanTarget(s *stageState, t *task) *member {
	roomy := a.target(s, t, true)
	if roomy != nil && a.caughtUp(t, roomy) {
		return roomy
	}
	// A member with room that was caught up before the newest checkpoint
	// is the target of a handover whose final checkpoint (§3.3) it has
	// not fetched yet: it downloads that one checkpoint. Giving the task
	// back to the member that just released it would undo the move.
	if roomy != nil && t.Stateful && a.missing(t, roomy) <= a.opts.AcceptableRecoveryBytes+t.prog.newestUpload() {
		return roomy
	}
	// No member with room holds a (nearly) caught-up copy: a full member
	// that holds a caught-up one runs the task at once rather than some
	// member downloading it.
	if t.Stateful {
		if full := a.target(s, t, false); full != nil && a.caughtUp(t, full) {
			return full
		}
	}
	if roomy != nil {
		return roomy
	}
	// Every member is full (earlier orphans took rooms above): the least
	// loaded one.
	least := a.matching[0]
	for _, m := range a.matching[1:] {
		if s.lessLoaded(m, least) < 0 {
			least = m
		}
	}
	return least
}

// standbys applies rule 5 to stateful task t: followers on members other
// than its owner, its holder and its planned target, other racks first,
// then members already holding a caught-up copy, then those with fewer
// standbys.
func (a *assigner) standbys(t *task) {
	exclude := map[*member]bool{}
	racks := map[string]bool{}
	for _, i := range []int{t.owner, t.holder, t.target} {
		if i >= 0 {
			exclude[a.ms[i]] = true
		}
	}
	owner := t.owner
	if owner < 0 {
		owner = t.target
	}
	if owner >= 0 && a.ms[owner].md.Rack != "" {
		racks[a.ms[owner].md.Rack] = true
	}
	for range a.opts.StandbyReplicas {
		var best *member
		key := func(m *member) []int {
			used := b2i(m.md.Rack != "" && racks[m.md.Rack])
			return []int{used, b2i(!a.caughtUp(t, m)), m.standbys}
		}
		for _, m := range a.matching {
			if exclude[m] {
				continue
			}
			if best == nil || slices.Compare(key(m), key(best)) < 0 {
				best = m
			}
		}
		if best == nil {
			return
		}
		exclude[best] = true
		best.standby = append(best.standby, t.ID)
		best.standbys++
		if best.md.Rack != "" {
			racks[best.md.Rack] = true
		}
	}
}
