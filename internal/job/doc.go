// Package job assembles and runs a checkpointed job: it restores the newest
// complete checkpoint (or the one asked for), opens each keyed task's state
// from it, runs the operator graph and the checkpoint coordinator together,
// restarts from the newest checkpoint after a transient failure as the
// restart strategy says, and reports its status (state, readiness, failures,
// checkpoint counts across restarts).
package job
