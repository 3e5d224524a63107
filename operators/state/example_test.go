package state_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tidemark/tidemark/operators/state"
)

// A keyed operator keeping a running count per key, checkpointed and
// restored.
func Example() {
	root, err := os.MkdirTemp("", "state-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	b, err := state.Open(filepath.Join(root, "live"), state.Options{})
	if err != nil {
		log.Fatal(err)
	}
	counts := state.NewValue(b, "word-count", "count", state.Int64{})
	process := func(word string) int64 {
		n, _, err := counts.Get([]byte(word))
		if err != nil {
			log.Fatal(err)
		}
		n++
		if err := counts.Put([]byte(word), n); err != nil {
			log.Fatal(err)
		}
		return n
	}

	for _, w := range []string{"tide", "mark", "tide"} {
		fmt.Println(w, process(w))
	}
	// On barrier 1: the synchronous part of the snapshot.
	chk := filepath.Join(root, "chk-1")
	if _, err := b.Checkpoint(chk); err != nil {
		log.Fatal(err)
	}
	fmt.Println("tide", process("tide"), "(after the checkpoint)")
	b.Close() // a crash: the count of 3 is lost with the live directory

	b, err = state.OpenFrom(chk, filepath.Join(root, "live"), state.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	counts = state.NewValue(b, "word-count", "count", state.Int64{})
	fmt.Println("tide", process("tide"), "(restored)")
	// Output:
	// tide 1
	// mark 1
	// tide 2
	// tide 3 (after the checkpoint)
	// tide 3 (restored)
}
