package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// errNoField says a record's value lacks the event-time field.
var errNoField = errors.New("source: no event-time field")

// eventTime reads the event time, in epoch milliseconds, from field, a
// top-level field of the JSON object value: a number of milliseconds
// (rounded down to a whole millisecond) or an RFC 3339 string.
func eventTime(value []byte, field string) (int64, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil {
		return 0, fmt.Errorf("source: value is not a JSON object: %w", err)
	}
	raw, ok := obj[field]
	if !ok {
		return 0, fmt.Errorf("%w %q", errNoField, field)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("source: event-time field %q: %w", field, err)
		}
		return t.UnixMilli(), nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("source: event-time field %q is neither a number nor a string: %s", field, raw)
	}
	if ms, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
		return ms, nil
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.IsNaN(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, fmt.Errorf("source: event-time field %q is not a number of milliseconds: %s", field, raw)
	}
	return int64(math.Floor(f)), nil
}
