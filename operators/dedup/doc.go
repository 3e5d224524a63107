// Package dedup holds the dedup operator (design §4.5): one row per key,
// the first or the last by arrival or by event time, like Flink SQL's
// deduplication (ROW_NUMBER() OVER (PARTITION BY … ORDER BY …) = 1), with
// Flink's rules for replacing the kept row (DeduplicateFunctionHelper).
//
// State, in the task's backend under the operator's name: value `row`,
// key → the kept row's event time and, unless only the first row by
// arrival is kept, the row itself; with a ttl, each value expires that
// long (processing time) after it was last written, and the next row of
// the key is the first again. Without a ttl the operator also keeps the
// rows of recent keys decoded in memory (it alone writes its state), so a
// repeated key costs no state read.
//
// Register adds the type to a plugin.Environment.
package dedup
