package rank

import (
	"bytes"
	"math"
	"slices"
	"testing"
)

// TestSortKeyOrder: the byte order of encoded values is their order, in
// both directions, for every pair of a list sorted by hand.
func TestSortKeyOrder(t *testing.T) {
	sorted := []any{
		nil, false, true,
		math.Inf(-1), int64(math.MinInt64), -1e18, int64(-3), -2.5, int64(0), 0.5, int64(1), 1.5,
		int64(1 << 53), int64(1<<53 + 1), float64(1<<53 + 2), int64(math.MaxInt64 - 1), int64(math.MaxInt64), math.Inf(1),
		"", "\x00", "\x00\x00", "\x00a", "a", "a\x00", "ab", "b",
		[]any{int64(1), int64(2)}, []any{int64(1)}, map[string]any{"a": "b"},
	}
	enc := func(v any, desc bool) []byte {
		b, err := appendSortValue(nil, v, desc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i, a := range sorted {
		for j, b := range sorted {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := bytes.Compare(enc(a, false), enc(b, false)); got != want {
				t.Errorf("asc: compare(%#v, %#v) = %d, want %d", a, b, got, want)
			}
			if got := bytes.Compare(enc(a, true), enc(b, true)); got != -want {
				t.Errorf("desc: compare(%#v, %#v) = %d, want %d", a, b, got, -want)
			}
			// Composite keys: the first part decides, then the second.
			ab := append(enc(a, false), enc(int64(7), true)...)
			ba := append(enc(b, false), enc(int64(8), true)...)
			wantC := want
			if want == 0 {
				wantC = 1 // 7 after 8 descending
			}
			if got := bytes.Compare(ab, ba); got != wantC {
				t.Errorf("composite (%#v,7) vs (%#v,8) = %d, want %d", a, b, got, wantC)
			}
		}
	}
	if !bytes.Equal(enc(math.Copysign(0, -1), false), enc(int64(0), false)) {
		t.Error("-0 and 0 differ")
	}
	if !slices.Equal(enc(2.0, false), enc(int64(2), false)) {
		t.Error("2.0 and 2 differ")
	}
}
