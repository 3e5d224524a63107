package rowcodec_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/internal/rowcodec"
	"github.com/tidemark/tidemark/operators/state"
)

func TestRoundTrip(t *testing.T) {
	var d rowcodec.Decoder
	for _, r := range []operators.Record{
		{},
		{Key: []byte("k"), Timestamp: -5, Data: map[string]any{"i": int64(1), "f": 1.0, "s": "x", "l": []any{nil, true}}},
		{Key: []byte{0, 1}, Value: []byte("raw"), Headers: []operators.Header{{Key: "a", Value: []byte("1")}, {Key: "b"}},
			WindowStart: -10, WindowEnd: 10, Topic: "t", Partition: 3, Offset: 99, Timestamp: 1 << 40},
		{Data: "just a string"},
	} {
		b, err := rowcodec.Append([]byte("prefix"), &r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Decode(b[len("prefix"):])
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
		for i := 0; i < len(b)-len("prefix"); i++ {
			if _, err := d.Decode(b[len("prefix") : len("prefix")+i]); err == nil && r.Data == nil && r.Value == nil {
				t.Errorf("%+v: truncated to %d bytes decoded", r, i)
			}
		}
	}
	if _, err := d.Decode([]byte{9, 0}); !errors.Is(err, rowcodec.ErrCorrupt) {
		t.Errorf("bad version: %v", err)
	}
	if _, err := rowcodec.Append(nil, &operators.Record{Data: map[string]any{"x": nan()}}); err == nil {
		t.Error("NaN encoded")
	}
}

func nan() float64 {
	z := 0.0
	return z / z
}

func TestTaskKey(t *testing.T) {
	for _, kgs := range []state.KeyGroupRange{{Start: 0, End: 128}, {Start: 64, End: 128}, {Start: 5, End: 6}} {
		b, err := state.Open(t.TempDir(), state.Options{MaxParallelism: 128, KeyGroups: kgs})
		if err != nil {
			t.Fatal(err)
		}
		k := rowcodec.TaskKey(b, "wm/")
		if !kgs.Contains(state.KeyGroup(k, 128)) || string(rowcodec.TaskKey(b, "wm/")) != string(k) {
			t.Errorf("%v: key %q in key group %d", kgs, k, state.KeyGroup(k, 128))
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
