package state

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// DefaultMaxParallelism is the number of key groups when
// Options.MaxParallelism is zero.
const DefaultMaxParallelism = 128

// MaxMaxParallelism is the largest number of key groups: a key group is
// stored as two bytes, and Flink caps it at the same value.
const MaxMaxParallelism = 1 << 15

// KeyGroup returns the key group of key, in [0, maxParallelism): XXH64 of the
// key (seed 0) modulo maxParallelism. The key exchange routes records with it
// and the state backend addresses state with it, so both always agree.
//
// The function is part of the checkpoint format: changing it would put
// restored state into the wrong key groups. TestKeyGroupPinned pins it.
func KeyGroup(key []byte, maxParallelism int) int {
	if maxParallelism <= 0 {
		panic(fmt.Sprintf("state: KeyGroup: maxParallelism %d <= 0", maxParallelism))
	}
	return int(xxhash.Sum64(key) % uint64(maxParallelism))
}

// KeyGroupRange is the half-open range [Start, End) of key groups.
type KeyGroupRange struct {
	Start, End int
}

// AllKeyGroups returns the range of every key group, [0, maxParallelism).
func AllKeyGroups(maxParallelism int) KeyGroupRange {
	return KeyGroupRange{Start: 0, End: maxParallelism}
}

// Contains reports whether key group kg is in r.
func (r KeyGroupRange) Contains(kg int) bool { return kg >= r.Start && kg < r.End }

// Len returns the number of key groups in r.
func (r KeyGroupRange) Len() int { return max(r.End-r.Start, 0) }

// String formats r as [start,end).
func (r KeyGroupRange) String() string { return fmt.Sprintf("[%d,%d)", r.Start, r.End) }

// KeySpan returns the Pebble key span [start, end) that holds all state of
// the key groups in r: every key starts with its key group as two bytes
// big-endian.
func (r KeyGroupRange) KeySpan() (start, end []byte) {
	return binary.BigEndian.AppendUint16(nil, uint16(r.Start)), binary.BigEndian.AppendUint16(nil, uint16(r.End))
}

// metaMaxParallelismKey holds the backend's MaxParallelism (uvarint), so a
// checkpoint cannot be restored with another one, which would look every
// key up in the wrong key group. Key groups fit in 15 bits, so a key that
// starts with 0xff is no key group's.
var metaMaxParallelismKey = []byte("\xff\xffmeta/max-parallelism")

// isMeta reports whether k is one of the backend's own keys.
func isMeta(k []byte) bool { return len(k) > 0 && k[0] == 0xff }

// Namespace bytes: the byte after the operator id says what a key holds.
const (
	nsValue = 'v' // Value state: value header + encoded value
	nsMap   = 'm' // Map state: one key per map entry
	nsList  = 'l' // List state: concatenated frames, appended by merge
	nsTimer = 't' // timers: empty value
)

// The key layout (see doc.go):
//
//	state:  kg(2, BE) | uvarint len(op) | op | ns | uvarint len(name) | name | uvarint len(key) | key [| map key]
//	timers: kg(2, BE) | uvarint len(op) | op | 't' | kind(1) | ts(8, BE, sign bit flipped) | key
//
// Length prefixes keep the components prefix-free, so no operator, state
// name or user key can read another's entries.

// appendOpPrefix appends kg | len(op) | op | ns.
func appendOpPrefix(dst []byte, kg int, op string, ns byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(kg))
	dst = binary.AppendUvarint(dst, uint64(len(op)))
	dst = append(dst, op...)
	return append(dst, ns)
}

// appendStateKey appends the key of user key key in state op/name of kind
// ns; a map entry's key follows it.
func appendStateKey(dst []byte, kg int, op string, ns byte, name string, key []byte) []byte {
	dst = appendOpPrefix(dst, kg, op, ns)
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

// appendTimerPrefix appends the prefix of every timer of kind in op and key
// group kg.
func appendTimerPrefix(dst []byte, kg int, op string, kind TimerKind) []byte {
	dst = appendOpPrefix(dst, kg, op, nsTimer)
	return append(dst, byte(kind))
}

// appendTimerKey appends the key of a timer.
func appendTimerKey(dst []byte, kg int, op string, kind TimerKind, ts int64, key []byte) []byte {
	dst = appendTimerPrefix(dst, kg, op, kind)
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts)^(1<<63))
	return append(dst, key...)
}

// parseTimerKey splits the part of a timer key after its prefix.
func parseTimerKey(rest []byte) (ts int64, key []byte, ok bool) {
	if len(rest) < 8 {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(rest) ^ (1 << 63)), rest[8:], true
}

// parseNamespace returns the namespace byte of a stored key.
func parseNamespace(k []byte) (ns byte, ok bool) {
	if len(k) < 2 {
		return 0, false
	}
	n, w := binary.Uvarint(k[2:])
	if w <= 0 || uint64(len(k)-2-w) <= n {
		return 0, false
	}
	return k[2+w+int(n)], true
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
