// Package plan turns a job's configuration into its physical plan (design
// §3.1): the logical DAG of sources, operators and sinks (every from:
// resolved, side-output ports included), checked for unknown inputs,
// cycles, unused sources, inputs of the wrong number and changelog modes
// (§2.4); then edge kinds (a hash edge, a key exchange, wherever a
// stateful operator's key is not already the partition key; a chain edge
// otherwise), union made virtual, stages (the components over chain
// edges, each run by job.parallelism tasks) and the topology description
// lines (§3.7) whose hash is the checkpoint fingerprint.
//
// The planner knows operators only through their plugin specs (Inputs,
// Keyed, PreservesKey, Outputs, Changelog, Fingerprint), so it plans user
// operators like built-in ones. A configuration of the single-chain form
// (source, pipeline, sink) is planned as before: stages "source" and
// "keyed", the same operators and the same description lines, so that its
// checkpoints restore across the upgrade.
//
// The runtime (internal/job, operators) runs a *Job: one task per stage
// and parallel index, nodes called in Stage.Nodes order inside a task,
// P×P channels per hash edge between stages.
package plan
