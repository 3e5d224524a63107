// Command peerbench measures Tidemark beside its peers on one real Kafka
// broker: the same per-record keyed count, exactly once, with a 1 s
// checkpoint (or commit) interval and parallelism 2, in
//
//	raw       a raw franz-go pipe (internal/kafkabench.StartPipe): 2
//	          consume→count-in-a-map→produce loops in Kafka transactions
//	          committed every -interval; it resumes after a crash from its
//	          own committed output (the counts, and in a header the input
//	          partition and offset of each), its changelog
//	tidemark  the processor binary (./cmd/processor) with a generated
//	          config: pipeline count, exactly once, checkpoint.interval
//	          -interval, job.parallelism -parallelism, file:// checkpoints
//	flink     Apache Flink (bench/peers/flink): DataStream API, KafkaSource
//	          read_committed, keyBy, a ValueState count in RocksDB,
//	          KafkaSink EXACTLY_ONCE, incremental checkpoints every
//	          -interval to a local directory, in a MiniCluster
//	kstreams  Kafka Streams (bench/peers/kstreams): exactly_once_v2,
//	          commit.interval.ms -interval, statestore.cache.max.bytes 0,
//	          a RocksDB KeyValueStore count, -parallelism stream threads
//
// each as its own OS process (the raw pipe is this binary run as
// `peerbench rawpipe`). Every system writes, for each input record, the
// record's key with the key's new count as a decimal value, Tidemark's
// count pipeline's output, so one checker reads them all.
//
// The input (-records records of -value bytes over -keys keys, -partitions
// partitions) is produced once. Then, per round (-rounds, interleaved:
// raw tidemark flink kstreams raw tidemark …), each system runs on a fresh
// output topic until a read_committed consumer has seen every output, and
// peerbench reports throughput (records ÷ time from ready to all visible),
// CPU per record (the child's user+sys time, /proc, from ready to all
// visible), peak RSS (the child's VmHWM in /proc; not rusage's maxrss, which
// Linux carries over from this program's own memory, where Go starts the
// child, across exec), start-up (process
// start to ready: Tidemark's /readyz, or the "peerbench: ready" line the
// others print once their state is restored and they are about to read),
// and time to first committed output (from process start).
//
// Latency: each system runs again on fresh topics while a producer writes
// at a fixed rate (-latency-share of the slowest system's median
// throughput, or -latency-rate) for -latency-duration; latency is from
// just before a record's Produce call until a read_committed consumer saw
// its output (looked up by key and count), leaving out the first
// -latency-warmup.
//
// Recovery: a second input of about -recovery-bytes of keyed state (every
// key once, keys of -recovery-key-size bytes: the count state holds the
// keys) is produced once. Each system counts it all, is SIGKILLed once all
// of its output is visible, and is started again on the same state while
// -recovery-probes more records of existing keys are produced; the time
// from the kill to the first committed output of a probe is the recovery
// time.
//
// Every run's committed output is checked before any figure is printed:
// for every key, the counts 1..n exactly once each, where n is the key's
// records in the input (nothing missing, nothing duplicated). A failure
// stops the program with exit status 1, naming the system, run and keys.
//
// Tables are printed with internal/benchfmt; -charts writes PNG charts
// (gonum.org/v1/plot) into a directory. Run it with `make bench-peers`,
// which starts a broker of its own and builds the Maven project; `go run
// ./cmd/peerbench -h` lists the flags. -profile DIR has Tidemark's
// processor write a CPU profile and a heap profile at its largest live heap
// (processor run --cpuprofile, --memprofile) of each throughput run into
// DIR; the processor is then stopped with SIGTERM so that it writes them
// (after its CPU and peak RSS were sampled).
package main
