package job

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// Rescaling from a checkpoint (docs/checkpoints.md "Rescaling"): a
// checkpoint whose channel stages had other task counts than this job's
// restores by key group. Each new keyed task gets the state of its key
// groups from the old tasks that held them (state.OpenRescaled), the
// in-flight records of an unaligned checkpoint go to the new task that
// owns their key group, sources restore every position by source name
// (as always), and recovery fences the transactional ids of both the old
// and the new sink pools.

// channelStages returns the number of tasks of every non-source stage
// this job runs ("keyed" for a legacy job).
func (s *Spec) channelStages() map[string]int {
	out := map[string]int{}
	if s.Graph == nil {
		out["keyed"] = s.Parallelism
		return out
	}
	for _, st := range s.Graph.Stages {
		if !st.IsSource {
			out[st.Name] = st.Tasks
		}
	}
	return out
}

// stageChange is a stage's task count in a checkpoint and now.
type stageChange struct{ from, to int }

// rescaled returns the stages whose task count differs between checkpoint
// m and this job (none for m nil).
func (s *Spec) rescaled(m *checkpoint.Metadata) map[string]stageChange {
	out := map[string]stageChange{}
	if m == nil {
		return out
	}
	now := s.channelStages()
	for stage, n := range m.StageTasks() {
		if to, ok := now[stage]; ok && to != n {
			out[stage] = stageChange{from: n, to: to}
		}
	}
	return out
}

// currentPools are the sink pools this job records in its checkpoints.
func (s *Spec) currentPools() []checkpoint.SinkPool {
	var out []checkpoint.SinkPool
	if s.SinkPool != nil {
		out = append(out, *s.SinkPool)
	}
	return append(out, s.SinkPools...)
}

// restoreRescaled opens the state of the tasks ids (all of one stateful
// stage, whose task count changed since checkpoint m) from the old tasks'
// files, and returns their backends and the in-flight data of the old
// tasks rerouted to them by key group.
func (j *Job) restoreRescaled(ctx context.Context, st storage.Store, m *checkpoint.Metadata, stage string, ids []operators.TaskID, localDir string, mem *state.Memory, log *zap.Logger) (map[operators.TaskID]*state.Backend, map[operators.TaskID][]operators.InFlight, error) {
	s := &j.spec
	var olds []checkpoint.TaskState
	for _, ts := range m.Tasks {
		if ts.ID().Stage == stage {
			olds = append(olds, ts)
		}
	}
	sort.Slice(olds, func(a, b int) bool { return olds[a].KeyGroups[0] < olds[b].KeyGroups[0] })
	log.Info("rescaling the restored state: key groups move to the new tasks",
		zap.String("stage", stage), zap.Int("from_tasks", len(olds)), zap.Int("to_tasks", len(ids)),
		zap.Int("max_parallelism", s.MaxParallelism), zap.Int64("checkpoint", m.CheckpointID))
	root := filepath.Join(s.StateDir, "restore", "rescale-"+stage)
	if err := os.RemoveAll(root); err != nil {
		return nil, nil, fmt.Errorf("rescale %s: %w", stage, err)
	}
	defer func() { _ = os.RemoveAll(root) }()
	// Download each old task once; a new task reads those whose key
	// groups overlap its own.
	var srcs []state.RescaleSource
	var inFlight [][]operators.InFlight
	for _, ts := range olds {
		dest := filepath.Join(root, ts.ID().String())
		fl, _, err := checkpoint.PrepareTask(ctx, st, m, ts.ID(), localDir, dest)
		if err != nil {
			return nil, nil, fmt.Errorf("rescale %s: state of old task %s: %w", stage, ts.ID(), err)
		}
		srcs = append(srcs, state.RescaleSource{Dir: dest, KeyGroups: state.KeyGroupRange{Start: ts.KeyGroups[0], End: ts.KeyGroups[1]}})
		inFlight = append(inFlight, fl)
	}
	backends := map[operators.TaskID]*state.Backend{}
	fail := func(err error) (map[operators.TaskID]*state.Backend, map[operators.TaskID][]operators.InFlight, error) {
		for _, b := range backends {
			_ = b.Close()
		}
		return nil, nil, err
	}
	for _, id := range ids {
		start, end := operators.KeyGroupRange(id.Index, s.MaxParallelism, len(ids))
		opts := state.Options{MaxParallelism: s.MaxParallelism, KeyGroups: state.KeyGroupRange{Start: start, End: end}, Logger: log.Named("pebble"),
			Memory: mem}
		var mine []state.RescaleSource
		for _, src := range srcs {
			if src.KeyGroups.Start < end && start < src.KeyGroups.End {
				mine = append(mine, src)
			}
		}
		b, stats, err := state.OpenRescaled(mine, filepath.Join(root, "work-"+id.String()), filepath.Join(s.StateDir, "live", id.String()), opts)
		if err != nil {
			return fail(fmt.Errorf("rescale %s: state of %s: %w", stage, id, err))
		}
		backends[id] = b
		log.Info("task state rescaled", zap.Stringer("task", id), zap.Stringer("key_groups", opts.KeyGroups),
			zap.Int("from_old_tasks", len(mine)), zap.Int64("keys_copied", stats.Copied))
	}
	routed := rerouteInFlight(olds, inFlight, stage, len(ids), s.MaxParallelism, true)
	if n := countRecords(routed); n > 0 {
		log.Info("in-flight records of the unaligned checkpoint rerouted by key group", zap.String("stage", stage), zap.Int("records", n))
	}
	return backends, routed, nil
}

// rerouteInFlight distributes the in-flight data of old tasks (inFlight[i]
// is olds[i]'s) over tasks new tasks of stage: a keyed stage's records to
// the task that owns their key group now (records came through a hash
// edge, keyed with the consumer's key), a stateless stage's to task
// old index modulo tasks. Dead letters go to the task that owns the old
// task's first key group (keyed) or the same modulo. The order of each old
// task's elements is kept, so the records of each key stay in order.
func rerouteInFlight(olds []checkpoint.TaskState, inFlight [][]operators.InFlight, stage string, tasks, maxParallelism int, keyed bool) map[operators.TaskID][]operators.InFlight {
	out := map[operators.TaskID][]operators.InFlight{}
	for i, ts := range olds {
		home := ts.Task % tasks
		if keyed {
			home = operators.TaskForKeyGroup(ts.KeyGroups[0], maxParallelism, tasks)
		}
		for _, el := range inFlight[i] {
			parts := map[int]*operators.InFlight{}
			part := func(t int) *operators.InFlight {
				if parts[t] == nil {
					parts[t] = &operators.InFlight{Node: el.Node, Port: el.Port}
				}
				return parts[t]
			}
			for _, r := range el.Records {
				t := home
				if keyed {
					kg := state.KeyGroup(r.Key, maxParallelism)
					t = operators.TaskForKeyGroup(kg, maxParallelism, tasks)
				}
				p := part(t)
				p.Records = append(p.Records, r)
			}
			if len(el.DeadLetters) > 0 {
				p := part(home)
				p.DeadLetters = append(p.DeadLetters, el.DeadLetters...)
			}
			ts := make([]int, 0, len(parts))
			for t := range parts {
				ts = append(ts, t)
			}
			sort.Ints(ts)
			for _, t := range ts {
				id := operators.TaskID{Stage: stage, Index: t}
				out[id] = append(out[id], *parts[t])
			}
		}
	}
	return out
}

// describeRescale formats stage changes as "keyed 2->4, hist 2->1".
func describeRescale(c map[string]stageChange) string {
	var out string
	for _, stage := range sortedKeys(c) {
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%s %d->%d", stage, c[stage].from, c[stage].to)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func countRecords(m map[operators.TaskID][]operators.InFlight) int {
	n := 0
	for _, els := range m {
		for _, el := range els {
			n += len(el.Records)
		}
	}
	return n
}

// noteRescaled records in the attempt's restore what was rescaled.
func (j *Job) noteRescaled(c map[string]stageChange) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if r := j.obs.restore; r != nil {
		r.Rescaled = describeRescale(c)
	}
}
