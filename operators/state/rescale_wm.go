package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
)

// Per-task watermarks. Operators that judge lateness (the windowed
// aggregate, the joins) keep their watermark as a Value named "watermark"
// under a key of the task's own key groups: the first of PREFIX0,
// PREFIX1, … whose key group the task holds ("watermark-" for
// windowed aggregates, "wm" for joins, "task/" for top_n; TestTaskWatermarkPrefixesPinned checks the
// operators' sources still make them). That is state of the task, not of a key:
// after a rescale, the new task looks under the first such key of its new
// range, where no old task may have kept one. OpenRescaled therefore
// reads each old task's watermark from its own key and writes, under the
// new task's key, the least of those of the old tasks it takes key groups
// from (the watermark every one of them had passed), or none if one of
// them had none, so that lateness is judged as the slowest of them would
// have.

// taskWatermarkPrefixes are the key prefixes of per-task watermarks.
var taskWatermarkPrefixes = []string{"watermark-", "wm", "task/"}

const taskWatermarkName = "watermark"

// taskWatermarkKey returns the first key prefix<i> of key groups r.
func taskWatermarkKey(prefix string, r KeyGroupRange, maxParallelism int) []byte {
	for i := 0; ; i++ {
		k := []byte(prefix + strconv.Itoa(i))
		if r.Contains(KeyGroup(k, maxParallelism)) {
			return k
		}
	}
}

// taskWatermark names one operator's per-task watermark.
type taskWatermark struct{ op, prefix string }

// readTaskWatermarks returns the per-task watermarks a task that held r
// kept in db, reading only the key groups of its watermark keys.
func readTaskWatermarks(db *pebble.DB, r KeyGroupRange, maxParallelism int) (map[taskWatermark]int64, error) {
	out := map[taskWatermark]int64{}
	for _, prefix := range taskWatermarkPrefixes {
		key := taskWatermarkKey(prefix, r, maxParallelism)
		kg := KeyGroup(key, maxParallelism)
		lower, upper := KeyGroupRange{Start: kg, End: kg + 1}.KeySpan()
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return nil, err
		}
		for valid := it.First(); valid; valid = it.Next() {
			op, ns, name, ukey, ok := parseValueKey(it.Key())
			if !ok || ns != nsValue || name != taskWatermarkName || !bytes.Equal(ukey, key) {
				continue
			}
			raw, err := it.ValueAndErr()
			if err != nil {
				_ = it.Close()
				return nil, err
			}
			_, payload, err := parseHeader(raw)
			if err == nil {
				var wm int64
				if wm, err = (Int64{}).Decode(payload); err == nil {
					out[taskWatermark{op: op, prefix: prefix}] = wm
				}
			}
			if err != nil {
				_ = it.Close()
				return nil, fmt.Errorf("watermark of %s (key %s): %w", op, key, err)
			}
		}
		if err := it.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeTaskWatermarks keeps in b, under b's own watermark keys, the least
// watermark of each operator over parts (one map per old task), or none
// where an old task had none.
func writeTaskWatermarks(b *Backend, parts []map[taskWatermark]int64) error {
	all := map[taskWatermark]bool{}
	for _, p := range parts {
		for w := range p {
			all[w] = true
		}
	}
	for w := range all {
		least, everyone := int64(0), true
		for i, p := range parts {
			v, ok := p[w]
			if !ok {
				everyone = false
				break
			}
			if i == 0 || v < least {
				least = v
			}
		}
		v := NewValue(b, w.op, taskWatermarkName, Int64{})
		key := taskWatermarkKey(w.prefix, b.opts.KeyGroups, b.opts.MaxParallelism)
		var err error
		if everyone {
			err = v.Put(key, least)
		} else {
			err = v.Delete(key)
		}
		if err != nil {
			return fmt.Errorf("watermark of %s: %w", w.op, err)
		}
	}
	return b.Flush()
}

// parseValueKey splits a state key: kg | len(op) | op | ns | len(name) |
// name | len(key) | key [| map key].
func parseValueKey(k []byte) (op string, ns byte, name string, key []byte, ok bool) {
	if len(k) < 2 {
		return "", 0, "", nil, false
	}
	rest := k[2:]
	field := func() ([]byte, bool) {
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n {
			return nil, false
		}
		f := rest[w : w+int(n)]
		rest = rest[w+int(n):]
		return f, true
	}
	o, ok := field()
	if !ok || len(rest) == 0 {
		return "", 0, "", nil, false
	}
	ns, rest = rest[0], rest[1:]
	nm, ok := field()
	if !ok {
		return "", 0, "", nil, false
	}
	uk, ok := field()
	if !ok {
		return "", 0, "", nil, false
	}
	return string(o), ns, string(nm), uk, true
}
