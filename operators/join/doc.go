// Package join is the `join` operator (design docs/design/pipelines.md
// §4.3): two inputs, left and right (`from: [left, right]`), joined by
// key, with their rows kept in the task's keyed state (Pebble) and
// cleaned up by event-time timers or a processing-time TTL.
//
// Three kinds, chosen by the `join` setting:
//
//   - regular (how: inner | left): every row is kept (until its `ttl` or
//     `retain` time) and joined with every row of the other side with the
//     same key for which `where` holds, whatever order they arrive in.
//     Retractions (update-before, delete) take rows away and retract their
//     joined rows. A left join emits (left, null) for a left row without
//     match and turns it into (left, right) with an update-before /
//     update-after pair when the first match arrives (and back when the
//     last one goes).
//   - interval (how: inner): a left row at time l and a right row at r
//     match when r + lower <= l <= r + upper (both bounds inclusive, as
//     Flink SQL). A row with a time at or behind the watermark is late
//     and goes to the `late` side output. A left row is kept until the
//     watermark reaches l − lower, a right row until r + upper.
//   - window (how: inner | left | right | full | semi | anti): rows are
//     buffered per (key, window) — tumbling, hopping, or the window the
//     record carries (attached, from a window aggregate) — and joined when
//     the watermark reaches the window's end − 1; then dropped. A row
//     none of whose windows is still open is late.
//
// The key of each side is set on Record.Key by the planner from
// `key.left` / `key.right` before the operator sees a record; the output
// key is the join key. `where` and `select` see `left` and `right` (the
// rows' values; the missing side of an outer join is an empty object, so
// every field of it reads null), `key`, `timestamp` (the output's) and
// `window` (window join). Without `select` the output is the left row's
// fields then the right row's, right winning on a clash.
//
// # State
//
// Under the operator's name in the task's state backend (a row is its
// value: a tag byte, then JSON, raw bytes or nothing):
//
//	regular   map rows.left, rows.right: key → row → {count, matches, ts, retain}
//	          event-time timers at retain times (the cleanup drops the
//	          key's rows whose retain time the watermark reached)
//	interval  map rows.left, rows.right: key → (t, seq) → row
//	          value meta: key → {last seq, rows per side}
//	          event-time timers at expiry times
//	window    map rows.left, rows.right: key → (window end, start, seq) → row
//	          value meta: key → {last seq, rows per side}
//	          event-time timers at window end − 1
//	all       value watermark: the last watermark seen, so that lateness
//	          decisions after a restore are those of an uninterrupted run
//
// seq numbers a key's rows in arrival order (equal rows stay distinct);
// a key's meta goes once both its sides are empty. The row counts spare a
// scan of a side that holds nothing: a Pebble point lookup (with its
// Bloom filter) costs far less than an iterator.
package join
