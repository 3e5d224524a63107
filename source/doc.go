// Package source is the Kafka source of the processor: it spreads the
// partitions of the configured topics over the source tasks, discovers new
// ones, keeps offsets as checkpointed state, stamps records with their
// event time and derives event-time watermarks.
package source
