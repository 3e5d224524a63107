// Command nexmarkbench measures Tidemark on the Nexmark queries of
// configs/nexmark on a real Kafka broker, beside a raw franz-go
// consume→produce pipe of the same input measured in the same run, and
// collects the operators' allocations per record (issue 9, `make
// bench-nexmark`, docs/benchmarks.md).
//
// It generates -events events (seed -seed, -rate events per second of
// event time) into a fresh topic of -partitions partitions with the
// Nexmark generator, then, for -rounds rounds:
//
//   - raw: this program's own `rawpipe` subcommand, in a child process:
//     job.parallelism pipes, each a read_committed consumer of its share of
//     the input partitions (from the start to the end offsets found at
//     start, no group) and an idempotent producer writing every record
//     unchanged to an output topic, as cmd/pipebench's baseline (variant a);
//   - each query of -queries: the processor binary (built from ./cmd/processor
//     unless -processor names one) running configs/nexmark/qN.yaml with
//     stop_at: end, file:// checkpoints and state in a temporary directory,
//     in a child process.
//
// Each run is timed from the child's start to its exit (start-up, the final
// checkpoint and the last commit included) and its CPU time is the child's
// user + system time (its rusage at exit), so records/s and records per
// CPU-second count the same things for the pipe and the processor.
// Records are input events. With -check (default) each query's committed
// output is compared with nexmark/reference before its figures are
// printed: a wrong answer is an error, not a result. -cpuprofile DIR
// writes a CPU profile of each query's processor to DIR/<query>-<round>.pprof
// (`processor run --cpuprofile`).
//
// Allocations: `go test -run '^$' -bench -allocs-bench -benchmem` in the
// packages of -allocs-pkgs (the operator packages' benchmarks process b.N
// records, so allocs/op is allocations per record), printed as a table.
//
// The machine may be shared and noisy: read ratios to the raw pipe.
// `make bench-nexmark` starts a broker of its own and runs this;
// `go run ./cmd/nexmarkbench -h` lists the flags (TIDEMARK_KAFKA_BROKERS
// names the broker).
package main
