package benchfmt

import (
	"testing"
	"time"
)

func TestUnits(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Rate(1_070_000), "1.07 M"}, {Rate(894_000), "894 k"}, {Rate(2_500), "2.5 k"}, {Rate(812), "812"}, {Rate(0), "-"},
		{Ns(12_345), "12.3 µs"}, {Ns(1_370), "1.37 µs"}, {Ns(940), "940 ns"},
		{Dur(12 * time.Second), "12.0 s"}, {Dur(1800 * time.Millisecond), "1.80 s"}, {Dur(630 * time.Millisecond), "630 ms"}, {Dur(3200 * time.Microsecond), "3.2 ms"},
		{Bytes(312 << 20), "312 MiB"}, {Bytes(3 << 29), "1.5 GiB"}, {Bytes(12 << 30), "12 GiB"}, {Bytes(17), "17 B"},
		{Ratio(1, 4), "0.25"}, {Ratio(1, 0), "-"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if m := Median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("Median odd = %v", m)
	}
	if m := Median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("Median even = %v", m)
	}
	if m := Median(nil); m != 0 {
		t.Errorf("Median of none = %v", m)
	}
}
