// Package job assembles and runs a checkpointed job: it restores the newest
// complete checkpoint (or the one asked for), opens each keyed task's state
// from it, runs the operator graph and the checkpoint coordinator together,
// and restarts from the newest checkpoint when checkpoints keep failing.
package job
