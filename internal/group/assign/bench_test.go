package assign

import (
	"fmt"
	"testing"
)

// BenchmarkAssignPaperScale assigns §11's paper model: 100 instances,
// three stages of 400 tasks (two stateful), one standby, every task
// running somewhere and 10 instances just joined, so that moves and
// warm-ups are computed.
func BenchmarkAssignPaperScale(b *testing.B) {
	var tasks []Task
	for i, st := range []string{"source:events", "counts", "maxn"} {
		for j := range 400 {
			tasks = append(tasks, Task{ID: fmt.Sprintf("%s-%d", st, j), Stage: st, Stateful: i > 0})
		}
	}
	in := Input{Epoch: Epoch{Number: 1, Fingerprint: "fp", Parallelism: 400, Tasks: tasks}, Options: DefaultOptions()}
	in.Options.StandbyReplicas = 1
	for i := range 100 {
		m := Member{ID: fmt.Sprintf("host-%03d", i), Metadata: Metadata{Fingerprint: "fp", Parallelism: 400, Epoch: 1}}
		if i < 90 {
			for j, t := range tasks {
				if j%90 == i {
					m.Owned = append(m.Owned, OwnedTask{Task: t.ID, LeaseGeneration: 1})
					m.Local = append(m.Local, LocalCopy{Task: t.ID, Checkpoint: 10})
				}
			}
		}
		in.Members = append(in.Members, m)
	}
	for _, t := range tasks {
		if t.Stateful {
			in.Progress = append(in.Progress, Progress{Task: t.ID, Checkpoints: []CheckpointSize{{ID: 10, Previous: 9, UploadedBytes: 30 << 20, StateBytes: 2500 << 20}}})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := Assign(in)
		if err != nil || len(out.Moves) == 0 {
			b.Fatalf("Assign: %v, %d moves", err, len(out.Moves))
		}
	}
}
