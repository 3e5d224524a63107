// Package runner wires one processor together from its configuration: the
// Kafka connection (or the embedded quickstart broker and its sample data),
// the source, the pipeline and the sink, and runs them until shutdown.
package runner
