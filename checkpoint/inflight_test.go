package checkpoint_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
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
	got, _, err := checkpoint.PrepareTask(ctx, st, m, operators.TaskID{Stage: "keyed"}, filepath.Join(dir, "local"), filepath.Join(dir, "restore", "keyed-0"))
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
	t.Run("version 3: kind, window and decoded value", func(t *testing.T) {
		got, err := prepareInFlight(t, `{"format":"tidemark-in-flight","version":3,"elements":[`+
			`{"records":[{"Key":"aw==","Value":null,"Headers":null,"Timestamp":5,"Kind":1,"WindowStart":0,"WindowEnd":10,`+
			`"Data":{"n":9223372036854775807,"f":3.0,"s":"x","l":[1,null]},"Topic":"in","Partition":1,"Offset":9}]},`+
			`{"dead_letters":[{"record":{"Key":"aw==","Value":"Mg==","Headers":null,"Timestamp":5},"operator":"parse","reason":"bad"}]}]}`)
		if err != nil {
			t.Fatal(err)
		}
		want := []operators.InFlight{
			{Records: []operators.Record{{Key: []byte("k"), Timestamp: 5, Kind: operators.UpdateBefore, WindowEnd: 10,
				Data: map[string]any{"n": int64(math.MaxInt64), "f": 3.0, "s": "x", "l": []any{int64(1), nil}}, Topic: "in", Partition: 1, Offset: 9}}},
			{DeadLetters: []operators.DeadLetter{{Record: operators.Record{Key: []byte("k"), Value: []byte("2"), Timestamp: 5}, Operator: "parse", Reason: "bad"}}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("version 2 with fields of version 3", func(t *testing.T) {
		_, err := prepareInFlight(t, `{"format":"tidemark-in-flight","version":2,"elements":[{"records":[{"Key":"aw==","Data":{"a":1}}]}]}`)
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Errorf("got %v, want ErrCorrupt", err)
		}
	})
	t.Run("bad kind", func(t *testing.T) {
		_, err := prepareInFlight(t, `{"format":"tidemark-in-flight","version":3,"elements":[{"records":[{"Key":"aw==","Kind":7}]}]}`)
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Errorf("got %v, want ErrCorrupt", err)
		}
	})
	t.Run("version 3 has no targets", func(t *testing.T) {
		got, err := prepareInFlight(t, `{"format":"tidemark-in-flight","version":3,"elements":[{"records":[{"Key":"aw==","Kind":2}]}]}`)
		if err != nil || len(got) != 1 || got[0].Node != "" || got[0].Records[0].Kind != operators.UpdateAfter {
			t.Errorf("got %+v, %v", got, err)
		}
		_, err = prepareInFlight(t, `{"format":"tidemark-in-flight","version":3,"elements":[{"node":"hot","records":[{"Key":"aw=="}]}]}`)
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Errorf("version 3 with a node: got %v, want ErrCorrupt", err)
		}
	})
	t.Run("unknown version", func(t *testing.T) {
		_, err := prepareInFlight(t, `{"format":"tidemark-in-flight","version":5,"elements":[]}`)
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

// What a task keeps in flight comes back from the file as it was: kinds,
// windows and decoded values (ints as int64, floats as float64), and
// records never decoded stay undecoded.
func TestInFlightRoundTrip(t *testing.T) {
	elems := []operators.InFlight{
		{Records: []operators.Record{
			{Key: []byte("a"), Value: []byte(`{"raw":1}`), Timestamp: 7, Topic: "in", Partition: 2, Offset: 3},
			{Key: []byte("b"), Timestamp: 9, Kind: operators.UpdateAfter, WindowStart: -10, WindowEnd: 20,
				Headers: []operators.Header{{Key: "h", Value: []byte("v")}},
				Data:    map[string]any{"i": int64(-4), "f": 2.0, "nested": map[string]any{"x": []any{"y", true, nil, 1.5}}}},
			{Key: []byte("c"), Kind: operators.Delete, Data: "just a string"},
			{Key: []byte("d"), Kind: operators.UpdateBefore, Data: int64(42)},
		}},
		{DeadLetters: []operators.DeadLetter{{Record: operators.Record{Key: []byte("e"), Data: []any{int64(1)}, Kind: operators.Insert}, Operator: "filter", Reason: "1:5: nope"}}},
		// Version 4: records for a port of an operator.
		{Node: "hot", Port: 1, Records: []operators.Record{{Key: []byte("f"), Timestamp: 3}}},
		{Node: "hot", Records: []operators.Record{{Key: []byte("g"), Timestamp: 4}}},
	}
	data, err := checkpoint.EncodeInFlight(elems)
	if err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.DecodeInFlight(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, elems) {
		t.Errorf("round trip through %s:\n got %+v\nwant %+v", data, got, elems)
	}
	// A decoded value with no JSON text fails the encoding (and so the
	// checkpoint), naming the record.
	_, err = checkpoint.EncodeInFlight([]operators.InFlight{{Records: []operators.Record{{Data: math.NaN(), Topic: "in", Partition: 1, Offset: 8}}}})
	if err == nil || !strings.Contains(err.Error(), "in/1@8") {
		t.Errorf("NaN: got %v, want an error naming in/1@8", err)
	}
}
