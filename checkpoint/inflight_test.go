package checkpoint_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
)

// prepareInFlight stores data as keyed-0's in-flight file of a checkpoint
// and returns what PrepareTask reads from it.
func prepareInFlight(t *testing.T, data string) ([]operators.InFlight, error) {
	t.Helper()
	ctx := context.Background()
	st := storage.NewMem()
	sum := sha256.Sum256([]byte(data))
	h := checkpoint.FileHandle{Name: "in-flight.json", Key: "chk-0000000003/keyed-0/in-flight.json", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	if err := st.Put(ctx, h.Key, strings.NewReader(data), h.Size); err != nil {
		t.Fatal(err)
	}
	m := &checkpoint.Metadata{CheckpointID: 3, Tasks: []checkpoint.TaskState{{Task: 0, InFlight: &h}}}
	dir := t.TempDir()
	got, _, err := checkpoint.PrepareTask(ctx, st, m, 0, filepath.Join(dir, "local"), filepath.Join(dir, "restore", "keyed-0"))
	return got, err
}

func TestInFlightFormats(t *testing.T) {
	rec := func(v string) operators.Record {
		return operators.Record{Key: []byte("k"), Value: []byte(v), Timestamp: 5, Topic: "in", Partition: 1, Offset: 9}
	}
	t.Run("version 1: an array of records", func(t *testing.T) {
		got, err := prepareInFlight(t, `[{"Key":"aw==","Value":"MQ==","Headers":null,"Timestamp":5,"Topic":"in","Partition":1,"Offset":9}]`)
		if err != nil {
			t.Fatal(err)
		}
		want := []operators.InFlight{{Records: []operators.Record{rec("1")}}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("version 2: records and dead letters in order", func(t *testing.T) {
		got, err := prepareInFlight(t, `{"format":"tidemark-in-flight","version":2,"elements":[`+
			`{"records":[{"Key":"aw==","Value":"MQ==","Timestamp":5,"Topic":"in","Partition":1,"Offset":9}]},`+
			`{"dead_letters":[{"record":{"Key":"aw==","Value":"Mg==","Timestamp":5,"Topic":"in","Partition":1,"Offset":9},"operator":"parse","reason":"bad"}]},`+
			`{"records":[{"Key":"aw==","Value":"Mw==","Timestamp":5,"Topic":"in","Partition":1,"Offset":9}]}]}`)
		if err != nil {
			t.Fatal(err)
		}
		want := []operators.InFlight{
			{Records: []operators.Record{rec("1")}},
			{DeadLetters: []operators.DeadLetter{{Record: rec("2"), Operator: "parse", Reason: "bad"}}},
			{Records: []operators.Record{rec("3")}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("unknown version", func(t *testing.T) {
		_, err := prepareInFlight(t, `{"format":"tidemark-in-flight","version":3,"elements":[]}`)
		if !errors.Is(err, checkpoint.ErrUnknownVersion) {
			t.Errorf("got %v, want ErrUnknownVersion", err)
		}
	})
	t.Run("an element of both kinds", func(t *testing.T) {
		_, err := prepareInFlight(t, `{"format":"tidemark-in-flight","version":2,"elements":[{"records":[{"Key":"aw=="}],"dead_letters":[{"record":{"Key":"aw=="}}]}]}`)
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Errorf("got %v, want ErrCorrupt", err)
		}
	})
}
