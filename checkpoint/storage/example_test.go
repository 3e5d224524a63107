package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tidemark/tidemark/checkpoint/storage"
)

// Two instances of one job race to complete checkpoint 7: the loser learns
// it is a zombie.
func ExampleStore_PutIfAbsent() {
	ctx := context.Background()
	s := storage.NewMem()
	defer s.Close()

	for _, instance := range []string{"a", "b"} {
		meta := "checkpoint 7 by instance " + instance
		err := s.PutIfAbsent(ctx, "job/chk-000007/_metadata", strings.NewReader(meta), int64(len(meta)))
		switch {
		case errors.Is(err, storage.ErrExists):
			fmt.Println(instance, "lost: stop")
		case err != nil:
			fmt.Println(instance, "failed:", err)
		default:
			fmt.Println(instance, "completed checkpoint 7")
		}
	}
	// Output:
	// a completed checkpoint 7
	// b lost: stop
}

func ExampleStore_List() {
	ctx := context.Background()
	s := storage.NewMem()
	for _, key := range []string{"job/chk-000010/_metadata", "job/chk-000001/_metadata", "job/chk-000001/state", "job/shared/ab.sst"} {
		_ = s.Put(ctx, key, strings.NewReader(key), int64(len(key)))
	}
	infos, _ := s.List(ctx, "job/chk-00000") // a plain string prefix
	for _, info := range infos {
		fmt.Println(info.Key, info.Size)
	}
	// Output:
	// job/chk-000001/_metadata 24
	// job/chk-000001/state 20
}
