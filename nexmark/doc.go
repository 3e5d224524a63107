// Package nexmark generates the events of the Nexmark streaming benchmark
// (people, auctions and bids) the way the Flink community's generator
// (nexmark/nexmark, nexmark-flink/generator) does, and writes them to Kafka
// in that suite's JSON layout.
//
// The model is Flink's with one generator (parallelism 1): event number
// m = n + 1 for the n-th event (n = 0, 1, …), adjusted for out-of-order
// groups, event id e = 1 + m', kind by e mod 50 (person 1 : auction 3 :
// bid 46), ids derived from e, hot auctions, bidders and sellers, event time
// from m' and the rate, and Flink's quirks kept (bidders are offset by 2000,
// so they never equal a person id; the first person and auction ids, 1000,
// are never generated; the shared 1 MiB "extra" string holds characters
// 'H'…'z'). docs/nexmark.md states every rule.
//
// Unlike Flink's unseeded generator, every random choice comes from
// math/rand/v2's PCG seeded with (Config.Seed, a mix of the event id), so an
// event is a pure function of the configuration and its number: the same
// seed and configuration give byte-identical events, in any order, on any
// number of goroutines, and an out-of-order group only permutes events.
//
// [Generator] makes events in memory; [AppendJSON] encodes one; [Write]
// writes a run to a Kafka topic (event n to partition n mod P, wall-clock
// record timestamps, event time in the payload); [ParseJSON] reads a record
// back. Package nexmark/reference computes the benchmark's queries over the
// events.
package nexmark
