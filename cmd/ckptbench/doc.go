// Command ckptbench measures what an incremental checkpoint costs, against
// a plain full copy of the same state measured in the same run.
//
// For each state size (-sizes) and each storage backend (file:// in a
// temporary directory always; s3:// when TIDEMARK_S3_ENDPOINT and the other
// TIDEMARK_S3_* variables are set, as `integration/services.sh env` prints
// them), it runs a real job (internal/job: a generating source, the key
// exchange, keyed tasks writing incompressible values into state.Value)
// in two parts:
//
//  1. build: the source writes every key once; the job's final checkpoint
//     (Drain) then uploads the whole state: the full checkpoint. The local
//     copy of that checkpoint is then uploaded again, file by file, with
//     plain Store.Put calls and no checkpoint logic at all: the baseline
//     full copy, whose time every checkpoint is compared to;
//  2. updates: the job restarts from that checkpoint (local recovery) and
//     the source updates a fixed share of the keys (-update, default 1 %)
//     between every two checkpoints: -warmup checkpoints are taken and
//     dropped, then -checkpoints are measured. The plain full copy is
//     repeated at the end, on the state as it then is.
//
// It prints, per size and backend, the full checkpoint and the plain copy,
// the incremental checkpoints' sync-phase, async (upload) and end-to-end
// durations (p50 and p99; with 20 samples p99 is the maximum) and bytes
// uploaded (p50, mean, maximum), and the ratios between them. Machines are
// shared and noisy: compare figures within one run, not across runs.
//
// Progress goes to stderr, the tables to stdout (-markdown for Markdown).
// Run it with `make bench`, which starts the S3 server, or with
// `go run ./cmd/ckptbench -h` for the flags.
package main
