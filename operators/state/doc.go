// Package state keeps a task's keyed operator state and timers in a Pebble
// database and snapshots it as hard-linked Pebble checkpoints.
//
// # Model
//
// Each task owns one Backend, one Pebble database in its own directory,
// shared by the operators of its chain. One database per task (not per
// process) keeps a task's state movable as a whole, and a task's identity
// independent of the process it runs in. Operators see typed state, never
// Pebble: Value, Map and List per key, created with NewValue, NewMap and
// NewList and encoded with a Codec, and Timers (NewTimers) that fire in
// timestamp order. WithTTL makes a state's values expire.
//
// The task's goroutine is the only one that touches a Backend (Metrics
// excepted). Writes collect in an indexed batch that reads see, and are
// committed to Pebble by Backend.Flush, by Backend.Checkpoint, or on their
// own once the batch reaches Options.BatchSize. Value state reads and writes
// through a write-back cache (a Go map of the encoded keys, bounded by
// Options.BatchSize) in front of the batch: a hot key costs a map lookup,
// and reaches Pebble once per flush; iterators over spans that may hold
// Value keys see the cached writes.
//
// # Durability
//
// Pebble's write-ahead log is off. Recovery always restores a checkpoint
// (OpenFrom), never the live directory a crashed process left behind, which
// may hold writes that no checkpoint covers (DESIGN §4); so a WAL would
// cost writes and fsyncs and protect nothing. Checkpoint flushes the
// memtable first, so a checkpoint holds every write made before it. Open and
// OpenFrom empty the live directory.
//
// # Key layout
//
// Every key starts with its key group, so that the state of a range of key
// groups is one contiguous key span and can be split off or moved when
// parallelism changes (KeyGroupRange.KeySpan):
//
//	state:  key group (2 bytes, big-endian)
//	        | uvarint len(operator id) | operator id
//	        | namespace: 'v' value, 'm' map, 'l' list
//	        | uvarint len(state name) | state name
//	        | uvarint len(user key) | user key
//	        | map key (encoded by the key codec; map state only)
//	timers: key group (2 bytes, big-endian)
//	        | uvarint len(operator id) | operator id
//	        | 't' | kind ('e' event time, 'p' processing time)
//	        | timestamp (8 bytes, big-endian, sign bit flipped)
//	        | user key
//	meta:   0xff 0xff | name (the backend's own keys: "meta/max-parallelism")
//
// Key groups fit in 15 bits, so no state key starts with 0xff. The key
// group of a key is KeyGroup(key, maxParallelism), the function the key
// exchange routes records with; OpenFrom refuses a checkpoint made with
// another MaxParallelism.
//
// Values start with a header: 0, or 1 and an expiry time (8 bytes,
// big-endian Unix nanoseconds). A list value is a concatenation of frames,
// one per element: header, uvarint length, encoded element; List.Add
// appends a frame with a Pebble merge. Timer values are empty.
package state
