// Package source reads Kafka partitions for the processor: which topics,
// which consumer group and where a partition without stored offsets starts.
package source
