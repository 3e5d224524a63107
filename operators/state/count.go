package state

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// OperatorKeys counts one operator's stored keys, by kind of state.
type OperatorKeys struct {
	// Operator is the operator id the keys are stored under.
	Operator string `json:"operator"`
	// Values counts Value state keys, MapEntries map entries, Lists List
	// state keys and Timers registered timers.
	Values     int64 `json:"values"`
	MapEntries int64 `json:"map_entries"`
	Lists      int64 `json:"lists"`
	Timers     int64 `json:"timers"`
}

// Keys is the operator's number of keys of every kind.
func (o OperatorKeys) Keys() int64 { return o.Values + o.MapEntries + o.Lists + o.Timers }

// KeyCounts is what CountKeys found in a backend.
type KeyCounts struct {
	// Operators are the operators with state, by operator id.
	Operators []OperatorKeys `json:"operators"`
	// OutOfRange counts the keys, among those of Operators, of key groups
	// outside the backend's (Options.KeyGroups): state the key exchange
	// could never route here.
	OutOfRange int64 `json:"out_of_range"`
	// Malformed counts keys that follow no layout of this package.
	Malformed int64 `json:"malformed"`
}

// Keys is the number of state keys counted, malformed ones included (the
// backend's own keys not).
func (c KeyCounts) Keys() int64 {
	n := c.Malformed
	for _, o := range c.Operators {
		n += o.Keys()
	}
	return n
}

// CountKeys reads every key of the backend, pending writes included, and
// counts them by operator and kind (see the key layout in the package
// documentation). Keys of key groups the backend does not hold and keys
// that follow no layout are counted apart: a healthy backend has none.
func (b *Backend) CountKeys() (KeyCounts, error) {
	byOp := map[string]*OperatorKeys{}
	var out KeyCounts
	err := b.iterate(nil, nil, func(k, _ []byte) (bool, error) {
		if isMeta(k) {
			return true, nil
		}
		kg, op, ns, ok := parseStateKey(k)
		if !ok {
			out.Malformed++
			return true, nil
		}
		if !b.opts.KeyGroups.Contains(kg) {
			out.OutOfRange++
		}
		o := byOp[op]
		if o == nil {
			o = &OperatorKeys{Operator: op}
			byOp[op] = o
		}
		switch ns {
		case nsValue:
			o.Values++
		case nsMap:
			o.MapEntries++
		case nsList:
			o.Lists++
		case nsTimer:
			o.Timers++
		default:
			out.Malformed++
		}
		return true, nil
	})
	if err != nil {
		return KeyCounts{}, fmt.Errorf("state: count keys: %w", err)
	}
	for _, o := range byOp {
		out.Operators = append(out.Operators, *o)
	}
	slices.SortFunc(out.Operators, func(a, b OperatorKeys) int {
		switch {
		case a.Operator < b.Operator:
			return -1
		case a.Operator > b.Operator:
			return 1
		}
		return 0
	})
	return out, nil
}

// parseStateKey splits the prefix of a state or timer key: key group,
// operator id and namespace byte.
func parseStateKey(k []byte) (kg int, op string, ns byte, ok bool) {
	if len(k) < 3 {
		return 0, "", 0, false
	}
	n, w := binary.Uvarint(k[2:])
	if w <= 0 || uint64(len(k)-2-w) <= n {
		return 0, "", 0, false
	}
	start := 2 + w
	return int(binary.BigEndian.Uint16(k)), string(k[start : start+int(n)]), k[start+int(n)], true
}
