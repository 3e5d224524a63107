// Command nexmark writes the events of the Nexmark benchmark to a Kafka
// topic (`nexmark generate`), deterministically from a seed, in the Flink
// suite's JSON layout. See docs/nexmark.md. (The design moves it under
// `processor nexmark generate` once the processor's commands are a
// library.)
package main
