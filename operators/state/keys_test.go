package state_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tidemark/tidemark/operators/state"
)

// TestKeyGroupPinned pins KeyGroup: it decides where restored state lives
// and where the key exchange sends records, so it must never change. The
// first two follow from XXH64's published values (XXH64("") =
// 0xef46db3751d8e999, XXH64("a") = 0xd24ec4f1a98c6e5b).
func TestKeyGroupPinned(t *testing.T) {
	for _, c := range []struct {
		key  string
		maxP int
		want int
	}{
		{"", 128, 0x99 % 128},
		{"a", 128, 0x5b},
		{"user-1", 128, 104},
		{"user-2", 128, 105},
		{"hello world", 128, 104},
		{"\x00\xff", 128, 125},
		{"", 1 << 15, 27033},
		{"user-1", 1 << 15, 27624},
		{"user-2", 1 << 15, 21993},
		{"\x00\xff", 1 << 15, 7549},
		{"user-1", 7, 1},
		{"\x00\xff", 7, 0},
		{"anything", 1, 0},
	} {
		if got := state.KeyGroup([]byte(c.key), c.maxP); got != c.want {
			t.Errorf("KeyGroup(%q, %d) = %d, want %d", c.key, c.maxP, got, c.want)
		}
	}
}

func TestKeyGroupSpread(t *testing.T) {
	const n, maxP = 128 * 1000, 128
	var counts [maxP]int
	for i := range n {
		counts[state.KeyGroup(binary.BigEndian.AppendUint64(nil, uint64(i)), maxP)]++
	}
	for kg, c := range counts {
		if c < 800 || c > 1200 {
			t.Errorf("key group %d got %d of %d keys, want about %d", kg, c, n, n/maxP)
		}
	}
}

func TestKeyGroupRange(t *testing.T) {
	r := state.KeyGroupRange{Start: 32, End: 64}
	if !r.Contains(32) || !r.Contains(63) || r.Contains(64) || r.Contains(31) {
		t.Errorf("Contains wrong for %v", r)
	}
	if r.Len() != 32 || r.String() != "[32,64)" {
		t.Errorf("Len %d String %s", r.Len(), r)
	}
	start, end := r.KeySpan()
	if !bytes.Equal(start, []byte{0, 32}) || !bytes.Equal(end, []byte{0, 64}) {
		t.Errorf("KeySpan = %x, %x", start, end)
	}
	if all := state.AllKeyGroups(128); all != (state.KeyGroupRange{Start: 0, End: 128}) {
		t.Errorf("AllKeyGroups = %v", all)
	}
}

// TestKeyLayout checks that every kind of state and timer is stored under
// its key group, then the operator id.
func TestKeyLayout(t *testing.T) {
	b := open(t, state.Options{})
	key := []byte("user-1")
	kg := state.KeyGroup(key, 128)
	must(t, state.NewValue(b, "op", "v", state.String{}).Put(key, "x"))
	must(t, state.NewMap(b, "op", "m", state.String{}, state.String{}).Put(key, "k", "x"))
	must(t, state.NewList(b, "op", "l", state.String{}).Add(key, "x"))
	must(t, state.NewTimers(b, "op").Register(state.EventTime, 5, key))

	want := map[string]bool{
		string([]byte{0, byte(kg), 2, 'o', 'p', 'v', 1, 'v', 6}) + "user-1":                      true,
		string([]byte{0, byte(kg), 2, 'o', 'p', 'm', 1, 'm', 6}) + "user-1k":                     true,
		string([]byte{0, byte(kg), 2, 'o', 'p', 'l', 1, 'l', 6}) + "user-1":                      true,
		string([]byte{0, byte(kg), 2, 'o', 'p', 't', 'e', 0x80, 0, 0, 0, 0, 0, 0, 5}) + "user-1": true,
		"\xff\xffmeta/max-parallelism":                                                           true,
	}
	for _, k := range keys(t, b) {
		if !want[string(k)] {
			t.Errorf("unexpected key %q", k)
		}
		delete(want, string(k))
	}
	for k := range want {
		t.Errorf("missing key %q", k)
	}
}

func TestKeyGroupOutOfRange(t *testing.T) {
	maxP := 128
	r := state.KeyGroupRange{Start: 0, End: 64}
	b := open(t, state.Options{MaxParallelism: maxP, KeyGroups: r})
	var in, out []byte
	for i := 0; in == nil || out == nil; i++ {
		k := binary.BigEndian.AppendUint32(nil, uint32(i))
		if r.Contains(state.KeyGroup(k, maxP)) {
			in = k
		} else {
			out = k
		}
	}
	v := state.NewValue(b, "op", "v", state.Int64{})
	must(t, v.Put(in, 1))
	if err := v.Put(out, 1); !errors.Is(err, state.ErrKeyGroupOutOfRange) {
		t.Errorf("Put out of range: %v", err)
	}
	if _, _, err := v.Get(out); !errors.Is(err, state.ErrKeyGroupOutOfRange) {
		t.Errorf("Get out of range: %v", err)
	}
	if err := state.NewTimers(b, "op").Register(state.EventTime, 1, out); !errors.Is(err, state.ErrKeyGroupOutOfRange) {
		t.Errorf("Register out of range: %v", err)
	}
	// All state lies in the range's key span.
	must(t, state.NewTimers(b, "op").Register(state.EventTime, 1, in))
	must(t, state.NewList(b, "op", "l", state.Int64{}).Add(in, 1))
	start, end := r.KeySpan()
	for _, k := range keys(t, b) {
		if k[0] != 0xff && (bytes.Compare(k, start) < 0 || bytes.Compare(k, end) >= 0) {
			t.Errorf("key %x outside %x..%x", k, start, end)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []state.Options{
		{MaxParallelism: -1},
		{MaxParallelism: 1<<15 + 1},
		{MaxParallelism: 128, KeyGroups: state.KeyGroupRange{Start: 10, End: 200}},
		{KeyGroups: state.KeyGroupRange{Start: 10, End: 10}},
		{BatchSize: -1},
	} {
		if _, err := state.Open(t.TempDir(), o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

// CountKeys counts every key by operator and kind, pending writes
// included, and counts apart keys of key groups the backend does not hold.
func TestCountKeys(t *testing.T) {
	b := open(t, state.Options{})
	fill(t, b, 0, 50)
	counts, err := b.CountKeys()
	must(t, err)
	// fill: op1 has a value per key (every tenth deletes another) and a
	// map entry per key; op2 a list and an event-time timer per key.
	want := []state.OperatorKeys{
		{Operator: "op1", Values: 45, MapEntries: 50},
		{Operator: "op2", Lists: 50, Timers: 50},
	}
	if len(counts.Operators) != 2 || counts.Operators[0] != want[0] || counts.Operators[1] != want[1] {
		t.Errorf("CountKeys: %+v, want %+v", counts.Operators, want)
	}
	if counts.OutOfRange != 0 || counts.Malformed != 0 || counts.Keys() != 195 {
		t.Errorf("CountKeys: %d out of range, %d malformed, %d keys; want 0, 0, 195", counts.OutOfRange, counts.Malformed, counts.Keys())
	}

	// The same state restored into a backend holding half the key
	// groups: the other half's keys are out of its range.
	dir := filepath.Join(t.TempDir(), "chk")
	_, err = b.Checkpoint(dir)
	must(t, err)
	half, err := state.OpenFrom(dir, filepath.Join(t.TempDir(), "live"), state.Options{KeyGroups: state.KeyGroupRange{Start: 0, End: 64}})
	must(t, err)
	defer half.Close()
	hc, err := half.CountKeys()
	must(t, err)
	if hc.Keys() != 195 || hc.OutOfRange == 0 || hc.OutOfRange == 195 {
		t.Errorf("restored into key groups [0,64): %d keys, %d out of range; want 195 and some but not all", hc.Keys(), hc.OutOfRange)
	}
}
