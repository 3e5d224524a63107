// Package harness runs the Nexmark queries of configs/nexmark on a real
// Kafka broker, for the integration tests and cmd/nexmarkbench: it
// rewrites a query's configuration for one run (Rewrite: brokers, topics,
// directories, checkpoint storage, stop_at), writes ranges of generated
// events in the generator's topic layout (WriteEvents), and reads an output
// topic completely, read_committed (ReadTopic), for reference.Result.Check.
package harness
