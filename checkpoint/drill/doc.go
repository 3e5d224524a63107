// Package drill is the recovery drill: it verifies that a checkpoint or
// savepoint restores, by doing what a restore does short of running the
// job — every file downloaded and checked against the size and checksum
// its metadata records, each task's state opened with Pebble in a scratch
// directory, its keys counted by operator and checked to belong to the
// task's key groups, in-flight records decoded — and reports pass or fail
// with every problem found (Verify). A Scheduler runs it inside the
// processor, in the background, on the checkpoint a restart would restore,
// and exports the last result as metrics.
package drill
