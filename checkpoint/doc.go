// Package checkpoint makes, stores and restores consistent checkpoints of a
// running job: the coordinator that triggers them, collects every task's
// part and completes them by writing their metadata last; the incremental
// upload of state files; retention and garbage collection; and restore.
//
// Layout under the job's root (DESIGN §5):
//
//	shared/<sha256>.sst           state files, content-addressed, uploaded once
//	chk-<n>/_metadata             written last, never overwritten
//	chk-<n>/<task>/<file>         a checkpoint's exclusive files
//	savepoints/<name>/...         self-contained, never garbage-collected
package checkpoint
