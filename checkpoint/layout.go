package checkpoint

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/tidemark/tidemark/checkpoint/storage"
)

// Keys of the storage layout, relative to the job's root.
const (
	sharedDir     = "shared/"
	savepointsDir = "savepoints/"
	metadataName  = "_metadata"
	chkPrefix     = "chk-"
)

// CheckpointDir is the directory of checkpoint id, with a trailing slash.
func CheckpointDir(id int64) string { return fmt.Sprintf("%s%010d/", chkPrefix, id) }

// MetadataKey is the key of checkpoint id's metadata.
func MetadataKey(id int64) string { return CheckpointDir(id) + metadataName }

// SavepointDir is the directory of the savepoint name.
func SavepointDir(name string) string { return savepointsDir + name + "/" }

func sharedKey(sha string) string { return sharedDir + sha + ".sst" }

// parseCheckpointKey returns the id of the checkpoint directory key lies
// in.
func parseCheckpointKey(key string) (int64, bool) {
	rest, ok := strings.CutPrefix(key, chkPrefix)
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(num, 10, 64)
	return id, err == nil && id > 0
}

// listing is what storage holds: complete checkpoints (with metadata) and
// every checkpoint id seen.
type listing struct {
	complete []int64 // ascending
	all      map[int64]bool
	maxID    int64
}

func list(ctx context.Context, st storage.Store) (*listing, error) {
	infos, err := st.List(ctx, chkPrefix)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list checkpoints: %w", err)
	}
	l := &listing{all: map[int64]bool{}}
	for _, in := range infos {
		id, ok := parseCheckpointKey(in.Key)
		if !ok {
			continue
		}
		l.all[id] = true
		l.maxID = max(l.maxID, id)
		if in.Key == MetadataKey(id) {
			l.complete = append(l.complete, id)
		}
	}
	sort.Slice(l.complete, func(i, j int) bool { return l.complete[i] < l.complete[j] })
	return l, nil
}

// readMetadata reads and verifies the metadata at key.
func readMetadata(ctx context.Context, st storage.Store, key string) (*Metadata, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read %s: %w", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read %s: %w", key, err)
	}
	m, err := DecodeMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", key, err)
	}
	return m, nil
}
