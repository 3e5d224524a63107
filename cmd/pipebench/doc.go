// Command pipebench measures Tidemark's throughput and end-to-end latency
// on a real Kafka broker against a raw franz-go consume→produce pipe
// measured in the same run, on the same broker.
//
// Variants (-variants, default a,b,c,d):
//
//	a  baseline: -baseline-pipes (default -parallelism) loops, each a
//	   franz-go read_committed consumer of its share of the input
//	   partitions and an idempotent producer writing every record
//	   unchanged (key, value, headers, timestamp) to the output topic;
//	   no processing, no group, no offsets committed
//	b  Tidemark, pipeline passthrough, exactly once (transactional sink,
//	   aligned checkpoints every -interval)
//	c  Tidemark, pipeline count (keyed state in Pebble), exactly once
//	d  c in at-least-once mode (idempotent sink, unaligned barriers)
//
// and, for diagnosis only:
//
//	e  Tidemark passthrough, at least once: b without transactions
//	f  a with transactions: each producer commits its open transaction
//	   and begins the next every -interval, in line (no offsets in the
//	   transaction): the cost of Kafka transactions without Tidemark
//
// Tidemark runs in this process through internal/runner.Run, with a
// config.Config built in code (job.parallelism -parallelism, HTTP server
// off, log level warn, state and file:// checkpoints in a temporary
// directory, or s3:// with -storage s3 and the TIDEMARK_S3_* variables).
// In-process, one CPU profile covers the whole pipeline, the runner's
// Ready hook says exactly when processing starts, and the baseline runs in
// the same kind of process (Go runtime, GC, scheduler).
//
// Throughput: N records (-records; -value bytes, -keys distinct keys,
// -partitions partitions) are produced once into a fresh input topic.
// Each run reads all of them into a fresh output topic, timed from the
// moment the pipeline is ready (Tidemark: restored and about to process;
// its start-up is reported apart) until a read_committed consumer of the
// output topic, started beforehand, has seen N records. Runs are
// interleaved (a,b,c,d,a,b,c,d,…, -rounds rounds) and reported as min and
// median records/s, with the ratio of the medians to (a), the ratio to
// (a)'s run of the same round, and CPU time per record of this process
// and of the broker (whose pid comes from $TIDEMARK_RUN_DIR).
//
// Latency: each variant runs again on fresh topics while a producer writes
// at a fixed rate (-latency-share of (a)'s median throughput, at most half
// of the slowest variant's, or -latency-rate; with -latency-own each
// variant at -latency-share of its own median throughput, so 0.5 is half
// of its maximum) for -latency-duration; every
// record carries the time it was produced (in its JSON value; for the
// count pipeline, whose output value is the count, it is looked up by key
// and count, since a key's records stay in order), and a read_committed
// consumer of the output computes now minus that time. Records of the
// first -latency-warmup are left out. With exactly-once output a record
// becomes visible only when the checkpoint after it completes and its
// transaction commits, so its latency is about half the checkpoint
// interval plus the checkpoint's own duration.
//
// The machine is shared and noisy: read the ratios to (a), not absolute
// figures. -cpuprofile writes a CPU profile (and with -trace an execution
// trace) of the first throughput run of each variant in -profile. Run it
// with `make bench-pipeline`, which starts a broker of its own, or with
// `go run ./cmd/pipebench -h` for the flags (TIDEMARK_KAFKA_BROKERS names
// the broker).
package main
