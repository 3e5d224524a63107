// Package reference computes the Nexmark queries q0, q1, q2, q3, q4, q5,
// q7, q8, q11, q15, q18 and q19 over generated events, in plain Go, with
// the Flink suite's SQL semantics (nexmark-flink/src/main/resources/
// queries/qN.sql, design docs/design/pipelines.md §7.4–7.5). Integration
// tests and the benchmark compare what the processor commits with it.
//
// A query takes an Input (the events as the topic's partitions hold them)
// and returns a Result: for append queries (q0–q3, q5, q7, q8, q11) the
// multiset of output rows; for updating queries (q4, q15, q18, q19) the
// final row per upsert key, with the acceptable alternatives where ties make
// it depend on how partitions interleave. Result.Check compares a topic's
// records with it.
//
// Event time and watermarks follow the suite: the watermark is the
// largest dateTime seen minus 4 s, per partition, the minimum over
// partitions, advanced after every event in Input order; windows are
// epoch-aligned and half-open, fire at watermark ≥ end − 1, and a record
// reaching a fired window is dropped from it. BehindWatermark tells
// whether any record of an input could be late at all (the generator's
// default data has none), in which case the result does not depend on the
// interleaving or on when watermarks are sent.
//
// docs/nexmark.md describes every query's output.
package reference
