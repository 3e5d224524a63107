// Package rowcodec encodes the records that stateful operators keep in
// state (the rows of a top_n, the row a dedup keeps): everything a
// record carries but its kind, with the decoded value as JSON text
// (format/json, which keeps ints and floats apart), so that a row read
// back is the record that was stored.
//
// It also finds a state key of the task's own key groups for what an
// operator keeps per task rather than per key (its watermark).
package rowcodec
