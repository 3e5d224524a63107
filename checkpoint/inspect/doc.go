// Package inspect reads a job's checkpoint storage with no processor
// running: it lists the checkpoints and savepoints with their validity under
// the job lease's fences and the one a restore would choose (List),
// describes one (Describe), shows or runs garbage collection with the
// coordinator's own rules (checkpoint.CollectGarbage, under the job's
// lease: Collect), and exports one, self-contained, to another store
// (Export). Package checkpoint/drill verifies that one restores.
//
// Every function takes the store rooted at the job (checkpoint.JobStore).
package inspect
