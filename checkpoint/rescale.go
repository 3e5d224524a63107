package checkpoint

import (
	"fmt"
	"strconv"
	"strings"
)

// Rescaling: a checkpoint restores into a job whose graph differs from
// the checkpoint's only in its number of tasks (job.parallelism, a
// stage's tasks, a legacy job's source tasks). Keyed state is stored by
// key group (design §2.2), and key groups (job.max_parallelism) stay: the
// new tasks take the key groups of their new ranges from the old tasks
// (state.OpenRescaled); sources restore every position by source name.

// rescaleInvariant is a description line with the task counts left out:
// two descriptions equal line by line in this form differ only in
// parallelism.
func rescaleInvariant(line string) (string, bool) {
	switch {
	case strings.HasPrefix(line, "parallelism="), strings.HasPrefix(line, "source_tasks="):
		return "", false
	case strings.HasPrefix(line, "stage "):
		var kept []string
		for f := range strings.FieldsSeq(line) {
			if !strings.HasPrefix(f, "tasks=") {
				kept = append(kept, f)
			}
		}
		return strings.Join(kept, " "), true
	}
	return line, true
}

func invariantLines(desc []string) []string {
	var out []string
	for _, l := range desc {
		if s, ok := rescaleInvariant(l); ok {
			out = append(out, s)
		}
	}
	return out
}

// Rescale says whether a checkpoint described by was restores into a job
// described by now by rescaling: the descriptions differ, and only in
// their task counts. changes lists those (`"parallelism=2" became
// "parallelism=4"`). It is false for equal descriptions, and for a
// checkpoint without one.
func Rescale(was, now []string) (changes string, ok bool) {
	if len(was) == 0 || strings.Join(was, "\n") == strings.Join(now, "\n") {
		return "", false
	}
	a, b := invariantLines(was), invariantLines(now)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		return "", false
	}
	return DescribeDiff(was, now), true
}

// maxParallelismOf returns the max_parallelism a description records (0:
// none).
func maxParallelismOf(desc []string) int {
	for _, l := range desc {
		if v, ok := strings.CutPrefix(l, "max_parallelism="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// checkTopology returns nil if m restores into the job of fingerprint
// topology and description desc, as is or by rescaling (then rescale
// says what changed); otherwise an error wrapping ErrTopologyMismatch
// that says what differs and how to proceed.
func checkTopology(m *Metadata, topology string, desc []string) (rescale string, err error) {
	if topology == "" || m.Topology == topology {
		return "", nil
	}
	if was, now := maxParallelismOf(m.TopologyDescription), maxParallelismOf(desc); was != 0 && now != 0 && was != now {
		return "", fmt.Errorf("%w: %s has max_parallelism=%d and this job max_parallelism=%d: the number of key groups is fixed for the life of a job's state, which is stored by key group, so it cannot change at a restore. "+
			"Set job.max_parallelism back to %d (job.parallelism may change, up to %d: the state is then rescaled), or start without that state: run once with --fresh or use a new job.name",
			ErrTopologyMismatch, describe(m), was, now, was, was)
	}
	if changes, ok := Rescale(m.TopologyDescription, desc); ok {
		return changes, nil
	}
	return "", TopologyError(m, topology, desc)
}

func describe(m *Metadata) string {
	if m.Savepoint != "" {
		return "savepoint " + m.Savepoint
	}
	return "checkpoint " + strconv.FormatInt(m.CheckpointID, 10)
}

// StageTasks returns the number of tasks of every stage m records state
// or in-flight data for ("keyed" for a legacy job's keyed tasks).
func (m *Metadata) StageTasks() map[string]int {
	out := map[string]int{}
	for _, t := range m.Tasks {
		out[t.ID().Stage]++
	}
	return out
}

// UnionPools returns the pools of a and b, one per prefix and stage, each
// as wide as the wider of the two (tasks and slots): the ids either may
// have left a transaction on. Recovery fences them all when a rescale
// changes the number of a sink-bearing stage's tasks, so that a crash
// before the first checkpoint of the new layout leaves no transaction on
// an id the newest checkpoint does not record.
func UnionPools(a, b []SinkPool) []SinkPool {
	out := append([]SinkPool(nil), a...)
	for _, p := range b {
		found := false
		for i := range out {
			if out[i].TransactionalIDPrefix == p.TransactionalIDPrefix && out[i].Stage == p.Stage {
				out[i].Tasks = max(out[i].Tasks, p.Tasks)
				out[i].PoolSize = max(out[i].PoolSize, p.PoolSize)
				found = true
			}
		}
		if !found {
			out = append(out, p)
		}
	}
	return out
}
