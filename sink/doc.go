// Package sink writes the processor's results to Kafka: with transactions
// for exactly-once delivery, or with the idempotent producer for
// at-least-once.
package sink
