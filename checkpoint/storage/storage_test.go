package storage_test

import (
	"testing"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/storagetest"
)

func TestMem(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return storage.NewMem() })
}

func TestFile(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := storage.NewFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
