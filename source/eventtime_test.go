package source

import (
	"errors"
	"testing"
	"time"
)

func TestEventTimeField(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int64
		err   bool
	}{
		{`{"ts": 1700000000123}`, 1_700_000_000_123, false},
		{`{"ts": -5}`, -5, false},
		{`{"ts": 1.7e12}`, 1_700_000_000_000, false},
		{`{"ts": 99.9}`, 99, false},
		{`{"ts": -0.5}`, -1, false},
		{`{"ts": "1970-01-01T00:00:01Z"}`, 1000, false},
		{`{"ts": "1970-01-01T00:00:01.2345+00:00"}`, 1234, false},
		{` {"a": [1, {"ts": 3}], "ts": 7} `, 7, false},
		{`{"ts": 1e300}`, 0, true},
		{`{"ts": "1700000000"}`, 0, true},
		{`{"ts": null}`, 0, true},
		{`{"ts": {"ms": 1}}`, 0, true},
		{`[1, 2]`, 0, true},
		{``, 0, true},
	} {
		got, err := eventTime([]byte(tc.value), "ts")
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("eventTime(%s) = %d, %v; want %d, error %v", tc.value, got, err, tc.want, tc.err)
		}
	}
	if _, err := eventTime([]byte(`{"time": 1}`), "ts"); !errors.Is(err, errNoField) {
		t.Errorf("missing field: %v", err)
	}
	if ms, _ := eventTime([]byte(`{"ts": "2024-02-29T12:00:00Z"}`), "ts"); ms != time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC).UnixMilli() {
		t.Errorf("got %d", ms)
	}
}
