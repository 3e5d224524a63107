package job

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// TestRerouteInFlight: the in-flight records of 2 old keyed tasks go, for
// 4, 3 and 1 new tasks, each to the task owning its key group, in their
// old order per old task, with node and port kept; dead letters go to
// the owner of the old task's first key group; a stateless stage's go to
// old index modulo the new count.
func TestRerouteInFlight(t *testing.T) {
	const mp = 128
	var olds []checkpoint.TaskState
	var inFlight [][]operators.InFlight
	for i := range 2 {
		start, end := operators.KeyGroupRange(i, mp, 2)
		olds = append(olds, checkpoint.TaskState{Task: i, KeyGroups: [2]int{start, end}})
		var recs []operators.Record
		for k := range 400 {
			key := []byte("k" + strconv.Itoa(k))
			if kg := state.KeyGroup(key, mp); kg >= start && kg < end {
				recs = append(recs, operators.Record{Key: key, Value: []byte(strconv.Itoa(k))})
			}
		}
		inFlight = append(inFlight, []operators.InFlight{
			{Node: "count", Port: 0, Records: recs[:len(recs)/2]},
			{DeadLetters: []operators.DeadLetter{{}}},
			{Node: "join", Port: 1, Records: recs[len(recs)/2:]},
		})
	}
	for _, tasks := range []int{4, 3, 1} {
		t.Run(fmt.Sprint(tasks), func(t *testing.T) {
			out := rerouteInFlight(olds, inFlight, "keyed", tasks, mp, true)
			n, dead := 0, 0
			last := map[string]int{} // per old task and node: the last value seen
			for id, els := range out {
				if id.Stage != "keyed" || id.Index < 0 || id.Index >= tasks {
					t.Fatalf("records routed to %s", id)
				}
				for _, el := range els {
					dead += len(el.DeadLetters)
					for _, r := range el.Records {
						n++
						kg := state.KeyGroup(r.Key, mp)
						if owner := operators.TaskForKeyGroup(kg, mp, tasks); owner != id.Index {
							t.Errorf("key %s of key group %d went to %s, its owner is task %d", r.Key, kg, id, owner)
						}
						v, _ := strconv.Atoi(string(r.Value))
						old := 0
						if kg >= mp/2 {
							old = 1
						}
						k := fmt.Sprintf("%s/%d/%s", id, old, el.Node)
						if p, ok := last[k]; ok && v <= p {
							t.Errorf("%s: record %d after %d: order lost", id, v, p)
						}
						last[k] = v
						if (el.Node == "count") == (el.Port == 1) {
							t.Errorf("record %s: node %s port %d", r.Key, el.Node, el.Port)
						}
					}
				}
			}
			want := 0
			for _, els := range inFlight {
				want += len(els[0].Records) + len(els[2].Records)
			}
			if n != want || dead != 2 {
				t.Errorf("rerouted %d records and %d dead letters, want %d and 2", n, dead, want)
			}
		})
	}
	out := rerouteInFlight(olds, inFlight, "map", 1, mp, false)
	if len(out) != 1 || len(out[operators.TaskID{Stage: "map", Index: 0}]) != 6 {
		t.Errorf("stateless 2 -> 1: %v", out)
	}
}
