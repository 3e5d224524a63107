package checkpoint_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
)

func sample(id int64) *checkpoint.Metadata {
	return &checkpoint.Metadata{
		Job: "j", Topology: "t1", CheckpointID: id, MaxParallelism: 128,
		TriggeredAt: time.Unix(100, 0).UTC(), CompletedAt: time.Unix(101, 0).UTC(),
		Sources: []checkpoint.SourceState{{Task: 0, Positions: []operators.Position{{Topic: "in", Partition: 3, Offset: 42}}}},
		Tasks:   []checkpoint.TaskState{{Task: 0, KeyGroups: [2]int{0, 128}, Files: []checkpoint.FileHandle{{Name: "000001.sst", Key: "shared/ab.sst", Size: 3, SHA256: "ab"}}}},
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	data, err := checkpoint.EncodeMetadata(sample(7))
	if err != nil {
		t.Fatal(err)
	}
	m, err := checkpoint.DecodeMetadata(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.CheckpointID != 7 || m.Sources[0].Positions[0].Offset != 42 || m.Tasks[0].Files[0].Key != "shared/ab.sst" {
		t.Errorf("round trip lost data: %+v", m)
	}
}

func TestMetadataRefusesCorruptionAndUnknownVersions(t *testing.T) {
	data, err := checkpoint.EncodeMetadata(sample(7))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Replace(data, []byte(`"offset": 42`), []byte(`"offset": 43`), 1)
	if bytes.Equal(flipped, data) {
		t.Fatalf("test did not change the metadata:\n%s", data)
	}
	if _, err := checkpoint.DecodeMetadata(flipped); !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("changed offset: %v, want a checksum error", err)
	}
	if _, err := checkpoint.DecodeMetadata(data[:len(data)/2]); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
	v9 := bytes.Replace(data, []byte(`"version": 3`), []byte(`"version": 9`), 1)
	if _, err := checkpoint.DecodeMetadata(v9); !errors.Is(err, checkpoint.ErrUnknownVersion) || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("version 9: %v", err)
	}
	// Version 1 (without the fields added in 2) is still read.
	v1 := bytes.Replace(data, []byte(`"version": 3`), []byte(`"version": 1`), 1)
	if m, err := checkpoint.DecodeMetadata(v1); err != nil || m.CheckpointID != 7 {
		t.Errorf("version 1: %v", err)
	}
	// Version 2 (a legacy job's: no stages, no source names) is still
	// read: its tasks are keyed-<i>, its sources source-<i>, its
	// positions those of the one source "".
	v2 := bytes.Replace(data, []byte(`"version": 3`), []byte(`"version": 2`), 1)
	m2, err := checkpoint.DecodeMetadata(v2)
	if err != nil {
		t.Fatalf("version 2: %v", err)
	}
	for _, ts := range m2.Tasks {
		if id := ts.ID(); id.Stage != "keyed" || id.Index != ts.Task {
			t.Errorf("version 2 task %d is %s, want keyed-%d", ts.Task, id, ts.Task)
		}
	}
	for _, ss := range m2.Sources {
		if id := ss.ID(); id.Stage != "source" || !id.IsSource() {
			t.Errorf("version 2 source %d is %s, want source-%d", ss.Task, id, ss.Task)
		}
	}
	if ps := m2.Positions(); len(ps) != 1 || len(ps[""]) == 0 {
		t.Errorf("version 2 positions %v, want all under the unnamed source", ps)
	}
	if _, err := checkpoint.DecodeMetadata([]byte(`{"format":"other"}`)); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("foreign file: %v", err)
	}
}

func put(t *testing.T, st storage.Store, key string, data []byte) {
	t.Helper()
	if err := st.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

func putMeta(t *testing.T, st storage.Store, m *checkpoint.Metadata) []byte {
	t.Helper()
	data, err := checkpoint.EncodeMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, checkpoint.MetadataKey(m.CheckpointID), data)
	return data
}

func TestFindRestorePoint(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMem()
	if m, err := checkpoint.FindRestorePoint(ctx, st, checkpoint.RestoreOptions{}); m != nil || err != nil {
		t.Fatalf("empty store: %v, %v; want a fresh start", m, err)
	}
	putMeta(t, st, sample(3))
	data := putMeta(t, st, sample(5))
	put(t, st, checkpoint.CheckpointDir(6)+"keyed-0/MANIFEST-000001", []byte("incomplete: no metadata"))

	m, err := checkpoint.FindRestorePoint(ctx, st, checkpoint.RestoreOptions{})
	if err != nil || m.CheckpointID != 5 {
		t.Fatalf("newest = %v, %v; want checkpoint 5", m, err)
	}
	if m, err := checkpoint.FindRestorePoint(ctx, st, checkpoint.RestoreOptions{From: "3"}); err != nil || m.CheckpointID != 3 {
		t.Errorf("--from 3: %v, %v", m, err)
	}
	if m, err := checkpoint.FindRestorePoint(ctx, st, checkpoint.RestoreOptions{From: "chk-0000000003"}); err != nil || m.CheckpointID != 3 {
		t.Errorf("--from chk-0000000003: %v, %v", m, err)
	}
	if _, err := checkpoint.FindRestorePoint(ctx, st, checkpoint.RestoreOptions{From: "4"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("--from 4 (missing): %v", err)
	}
	if _, err := checkpoint.FindRestorePoint(ctx, st, checkpoint.RestoreOptions{Topology: "t2"}); !errors.Is(err, checkpoint.ErrTopologyMismatch) {
		t.Errorf("other topology: %v", err)
	}

	// Corrupt the newest: refused, unless falling back is allowed.
	put(t, st, checkpoint.MetadataKey(5), bytes.Replace(data, []byte(`"offset": 42`), []byte(`"offset": 41`), 1))
	_, err = checkpoint.FindRestorePoint(ctx, st, checkpoint.RestoreOptions{})
	if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), "checkpoint 5") || !strings.Contains(err.Error(), "--fallback") {
		t.Errorf("corrupted newest: %v; want an error naming checkpoint 5 and --fallback", err)
	}
	m, err = checkpoint.FindRestorePoint(ctx, st, checkpoint.RestoreOptions{Fallback: true})
	if err != nil || m.CheckpointID != 3 {
		t.Errorf("with fallback: %v, %v; want checkpoint 3", m, err)
	}
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// TestPrepareTaskLocalRecovery: files of the local snapshot of the same
// checkpoint are linked when their checksums match and downloaded when
// not; a download that does not match the metadata is refused.
func TestPrepareTaskLocalRecovery(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMem()
	m := sample(9)
	m.Tasks[0].Files = nil
	for _, name := range []string{"000004.sst", "000007.sst", "MANIFEST-000010"} {
		data := []byte("contents of " + name)
		key := "shared/" + sha(data) + ".sst"
		put(t, st, key, data)
		m.Tasks[0].Files = append(m.Tasks[0].Files, checkpoint.FileHandle{Name: name, Key: key, Size: int64(len(data)), SHA256: sha(data)})
	}
	localDir := t.TempDir()
	snap := filepath.Join(localDir, "chk-9", "keyed-0")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Tasks[0].Files[:2] {
		if err := os.WriteFile(filepath.Join(snap, f.Name), []byte("contents of "+f.Name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A local file damaged since: it must not be used.
	if err := os.WriteFile(filepath.Join(snap, "000007.sst"), []byte("contents of 000007.ssX"), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "restore")
	_, reused, err := checkpoint.PrepareTask(ctx, st, m, operators.TaskID{Stage: "keyed"}, localDir, dest)
	if err != nil {
		t.Fatal(err)
	}
	if reused != 1 {
		t.Errorf("reused %d local files, want 1 (the intact one)", reused)
	}
	for _, f := range m.Tasks[0].Files {
		got, err := os.ReadFile(filepath.Join(dest, f.Name))
		if err != nil || sha(got) != f.SHA256 {
			t.Errorf("%s restored wrong: %q, %v", f.Name, got, err)
		}
	}

	// Storage holding a file that does not match the metadata.
	put(t, st, m.Tasks[0].Files[2].Key, []byte("tampered"))
	_, _, err = checkpoint.PrepareTask(ctx, st, m, operators.TaskID{Stage: "keyed"}, t.TempDir(), filepath.Join(t.TempDir(), "r"))
	if !errors.Is(err, checkpoint.ErrStateCorrupt) || errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("tampered file: %v, want ErrStateCorrupt (the metadata is fine)", err)
	}
}

// TestMetadataStagesAndSourceNames: version 3 keeps each task's stage and
// each source task's source name; positions are by source name.
func TestMetadataStagesAndSourceNames(t *testing.T) {
	m := sample(9)
	m.Sources = []checkpoint.SourceState{
		{Task: 0, Stage: "source:bids", Source: "bids", Positions: []operators.Position{{Topic: "in", Partition: 0, Offset: 5}}},
		{Task: 1, Stage: "source:bids", Source: "bids", Positions: []operators.Position{{Topic: "in", Partition: 1, Offset: 6}}},
		{Task: 0, Stage: "source:people", Source: "people", Positions: []operators.Position{{Topic: "in", Partition: 0, Offset: 7}}},
	}
	m.Tasks = []checkpoint.TaskState{{Task: 1, Stage: "counts", KeyGroups: [2]int{64, 128}}}
	data, err := checkpoint.EncodeMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.DecodeMetadata(data)
	if err != nil {
		t.Fatal(err)
	}
	if id := got.Tasks[0].ID(); id != (operators.TaskID{Stage: "counts", Index: 1}) {
		t.Errorf("task %s, want counts-1", id)
	}
	if id := got.Sources[2].ID(); id != (operators.TaskID{Stage: "source:people", Index: 0}) || !id.IsSource() {
		t.Errorf("source task %s, want source:people-0", id)
	}
	ps := got.Positions()
	if len(ps["bids"]) != 2 || len(ps["people"]) != 1 || ps["people"][0].Offset != 7 {
		t.Errorf("positions by source %v", ps)
	}
}
