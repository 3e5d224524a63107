// Package sink writes a job's results to Kafka. A sink-bearing task owns
// one committer (NewCommitter): a TaskCommitter, whose Kafka transaction
// every sink of the task and its dead letters share, pre-committed on a
// checkpoint's barrier and committed once the checkpoint completes, on a
// bounded pool of transactional ids per stage and task; or an
// IdempotentCommitter for at-least-once delivery. KafkaSink nodes turn
// records into Kafka records (topic fixed or per record, key, value
// encoded per format, upsert mode) and write them through it. Settler
// settles, at a restore, the transactions previous runs left. Transactional
// and Kafka are the single-chain sink operators built on the committers.
package sink
