package assign_test

import (
	"fmt"

	"github.com/tidemark/tidemark/internal/group/assign"
)

// A third instance joins two that run a stateless stage of four tasks:
// one task moves, in two generations (§3.3).
func ExampleAssign() {
	epoch := assign.Epoch{Number: 1, Fingerprint: "fp", Parallelism: 4, Tasks: []assign.Task{
		{ID: "source-0", Stage: "source"}, {ID: "source-1", Stage: "source"},
		{ID: "source-2", Stage: "source"}, {ID: "source-3", Stage: "source"},
	}}
	member := func(id string, owned ...string) assign.Member {
		m := assign.Member{ID: id, Metadata: assign.Metadata{Fingerprint: "fp", Parallelism: 4, Epoch: 1}}
		for _, t := range owned {
			m.Owned = append(m.Owned, assign.OwnedTask{Task: t, LeaseGeneration: 1})
		}
		return m
	}
	show := func(out assign.Output) {
		for _, m := range out.Members {
			fmt.Printf("  %s: %v\n", m.Member, m.Active)
		}
		for _, mv := range out.Moves {
			fmt.Printf("  moving %s from %s to %s\n", mv.Task, mv.From, mv.To)
		}
	}

	in := assign.Input{Epoch: epoch, Options: assign.DefaultOptions(), Members: []assign.Member{
		member("a", "source-0", "source-1"), member("b", "source-2", "source-3"), member("c"),
	}}
	out, err := assign.Assign(in)
	if err != nil {
		panic(err)
	}
	fmt.Println("generation 1:")
	show(out)

	// b has stopped source-3 (final checkpoint, lease released) and no
	// longer lists it: it goes to c.
	in.Members[1] = member("b", "source-2")
	out, err = assign.Assign(in)
	if err != nil {
		panic(err)
	}
	fmt.Println("generation 2:")
	show(out)
	// Output:
	// generation 1:
	//   a: [source-0 source-1]
	//   b: [source-2]
	//   c: []
	//   moving source-3 from b to c
	// generation 2:
	//   a: [source-0 source-1]
	//   b: [source-2]
	//   c: [source-3]
}
