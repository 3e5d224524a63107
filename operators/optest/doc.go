// Package optest tests one operator the way a task runs it, from golden
// scripts in the style of pebble's datadriven tests: records fed to its
// inputs, watermarks, processing time, checkpoints, and restores into a
// fresh state directory in the middle of a script, each command followed
// by what the operator emitted.
//
//	func TestCount(t *testing.T) {
//		optest.Run(t, "testdata/count.txt", func() operators.Operator { return &builtin.Count{} })
//	}
//
// The operator runs on a real operators/state backend (Pebble) in a
// temporary directory, opened with an OpenContext whose Reject collects
// dead letters and whose Now is the harness's clock (the backend's TTL
// clock too). Run walks a file or a directory of files (a fresh harness
// each); `go test -rewrite` rewrites the expected outputs from what the
// operator does (check the diff). Harness offers the same steps to Go
// code (New, Process, AdvanceWatermark, SetTime, Checkpoint, Complete,
// Restore).
//
// RunRestoreEquivalence checks a script for restore equivalence: it
// replays the script's inputs with a checkpoint and a restore into a fresh
// directory between every two commands and requires the same output as
// one uninterrupted run (every stateful operator ships this test).
//
// # Scripts
//
// A script is a list of commands, each a command line, input lines for
// process, a line "----", and the expected output; lines starting with #
// are comments. Any command takes `sort` to sort its output lines (for
// operators that emit in no particular order).
//
//	process [input=NAME|N] [batch=N] [sort]
//	<record line>
//	…
//	----
//	<output lines>
//
// feeds the records, in one Process call (batch=N: calls of N records),
// to the operator's input NAME (Inputs; input=1 or input=right of a join)
// through operators.MultiInput, or to Process for the only input.
//
//	watermark MS
//
// advances the watermark (OnWatermark); one not ahead of the current one
// is an error, as a task never passes it on.
//
//	time RFC3339 | time +DURATION
//
// moves processing time (to 2025-01-01T10:00:05Z, or on by 5s), and lets
// an operators.ProcessingTimer fire; it prints the new time.
//
//	checkpoint
//
// takes checkpoint N (1, 2, …): BeforeSnapshot of an
// operators.SnapshotEmitter, SnapshotState, then a checkpoint of the
// backend; prints "checkpoint N" and what BeforeSnapshot emitted.
//
//	complete [N]
//
// calls NotifyCheckpointComplete (default: the last checkpoint).
//
//	restore [N]
//
// closes the operator and its backend as a crash would, restores
// checkpoint N (default: the last) into a fresh directory, and opens a new
// operator from the constructor with RestoredCheckpoint N. The watermark
// starts over (math.MinInt64); processing time goes on.
//
//	state
//
// lists what the operator holds in the backend, one line per entry in key
// order (value NAME key=K, map NAME key=K mapkey=HEX, list NAME key=K,
// timer event|processing TS key=K), or (empty): to check that state is
// cleaned up.
//
// # Records
//
// A record line, in input and in output:
//
//	[KIND] [key=K] [ts=MS] [window=[START,END)] [header.NAME=V]… [topic=T partition=P offset=O] [VALUE]
//
// KIND is +I (insert, the default), -U (update before), +U (update after)
// or -D (delete). A value with spaces or quotes is Go-quoted (key="a b").
// VALUE is JSON, decoded as a source decodes it (format/json: integers
// int64, other numbers float64) into Record.Data; raw="…" sets undecoded
// Value bytes instead; no value is null. window=[0,10000) sets WindowStart
// and WindowEnd.
//
// Output lines print records the same way: kind, key (when not empty), ts,
// window (when set), headers, source position (when set), and the value as
// JSON with object fields sorted (raw="…" when never decoded, null when
// none); a record emitted to side output i is prefixed with port=NAME
// (Outputs) or port=i; a rejected record is
//
//	dead-letter reason="…" <record>
//
// and an error of the operator ends the output as "error: …".
//
// # Example
//
//	process
//	key=a ts=1000 {"n": 1}
//	key=a ts=2000 {"n": 2}
//	----
//	+I key=a ts=1000 raw="1"
//	+I key=a ts=2000 raw="2"
//
//	checkpoint
//	----
//	checkpoint 1
//
//	process
//	key=a ts=3000 {"n": 3}
//	----
//	+I key=a ts=3000 raw="3"
//
//	restore
//	----
//	restored checkpoint 1 into a fresh state directory
//
//	process
//	key=a ts=3000 {"n": 3}
//	----
//	+I key=a ts=3000 raw="3"
package optest
