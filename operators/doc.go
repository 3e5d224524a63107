// Package operators runs operator chains: the operator and source
// contracts, tasks that each run on their own goroutine over bounded
// channels of record batches, the key exchange between source and keyed
// tasks, and in-band barriers and watermarks with barrier alignment.
//
// A job is two stages. Source tasks read their partitions and route each
// record by key group to one keyed task; each keyed task runs a chain of
// operators (the last one usually a sink) on its own keyed state. Barriers
// and watermarks travel in the same channels as records, so a barrier can
// never overtake a record.
package operators
