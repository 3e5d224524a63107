// Package aggregate is the aggregate operator (design docs/design/
// pipelines.md §4.2): per group (the key of group_by), the functions
// count, sum, min, max, avg, count_distinct, first and last over
// expressions, either per event-time window (tumbling, hopping, session,
// or the window each record carries, "attached") and emitted when the
// watermark passes the window's end, or over the whole stream as an
// updating (retract) changelog.
//
// # Windowed
//
// A record at t is added to each of its windows not yet cleaned up; a
// window fires when the watermark W reaches end − 1, emitting one row per
// group (timestamp end − 1, Record.WindowStart/End set) and is cleaned up
// when W ≥ end − 1 + allowed_lateness. A record added to no window is
// late: it goes to side output port 1 ("late") when enabled, otherwise it
// is dropped and counted. With allowed lateness, a record reaching a fired
// window that is not yet cleaned up updates it and re-emits its row
// (update-before, update-after). Session windows merge every window of a
// group they intersect or touch (Flink's TimeWindow.intersects).
//
// A batch of records is folded in memory per (group, window) first.
// Tumbling and hopping windows then stay in memory between batches (up to
// a bound) and are written to state when a checkpoint is taken
// (SnapshotState); session windows of a group are one state value, with
// one timer at a time.
//
// # Non-windowed
//
// Every change of a group's row is emitted as update-before(old row) and
// update-after(new row), an insert the first time, a delete when the group
// has no rows left; retracting inputs (update-before, delete) are taken
// back exactly (min and max keep value counts, count_distinct occurrences).
// With emit: on_checkpoint the changed groups are emitted just before each
// checkpoint instead (operators.SnapshotEmitter).
//
// # State
//
// Under the operator's name: map "acc" (group → window → accumulators),
// value "sessions" (group → its sessions and next timer), value "acc"
// (non-windowed: group → accumulators), maps "distinct.<agg>" and
// "mm.<agg>" (value occurrences), value "out" (on_checkpoint: the row
// last emitted), value "watermark" (the watermark at the last checkpoint,
// so that a restore judges lateness as the run before it did), event-time
// timers at end − 1 (firing) and end − 1 + lateness (clean-up), and
// processing-time timers for ttl. docs/aggregate.md describes it all.
package aggregate
