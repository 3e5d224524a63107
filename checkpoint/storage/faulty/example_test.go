package faulty_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/faulty"
)

// The second upload of a shared file crashes half-way; nothing of it
// becomes visible.
func Example() {
	ctx := context.Background()
	s := faulty.New(storage.NewMem())
	crash := s.Inject(faulty.Rule{
		Ops:    faulty.OpPut,
		Key:    faulty.KeyContains("/shared/"),
		When:   faulty.Nth(2),
		Effect: faulty.BreakStream(5),
	})
	for _, key := range []string{"job/shared/1.sst", "job/shared/2.sst", "job/shared/3.sst"} {
		err := s.Put(ctx, key, strings.NewReader("sst bytes"), 9)
		fmt.Println(key, errors.Is(err, faulty.ErrInjected))
	}
	_, err := s.Stat(ctx, "job/shared/2.sst")
	fmt.Println("2.sst visible:", !errors.Is(err, storage.ErrNotFound))
	fmt.Println("faults:", crash.Fired(), "puts:", s.Calls(faulty.OpPut))
	// Output:
	// job/shared/1.sst false
	// job/shared/2.sst true
	// job/shared/3.sst false
	// 2.sst visible: false
	// faults: 1 puts: 3
}
