// Package sampledata loads the sample input of the example pipelines of
// configs/ into their source topics (cmd/seed, and the tests that run the
// examples).
//
// A sample file holds one record per line, KEY<TAB>VALUE, the form
// `processor tail` prints; a line without a tab is a value without a key.
// The file of topic t is <dir>/t.txt, dir being configs/data for the
// examples. Records are written in the file's order, each to the
// partition its key hashes to (Kafka's default partitioner), so a key's
// records keep their order.
package sampledata
