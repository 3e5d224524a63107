// Package kafkabench holds what the Kafka benchmark programs (cmd/pipebench,
// cmd/peerbench) share: the generator of their input records, the raw
// franz-go consume→produce pipe they measure Tidemark against, and the CPU
// time of a process.
package kafkabench
