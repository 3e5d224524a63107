// Package assign is the group leader's task assignor of the kafka-mode
// runtime (docs/scale-out.md §3.2–3.4): a pure function from the members'
// metadata, the epoch's task list and the tasks' checkpoint progress to each
// member's active, warm-up and standby tasks, plus the versioned binary
// codecs of the member metadata and assignment carried in the Kafka group
// protocol's UserData (§3.1). It does no I/O and keeps no state between
// generations: the same input always gives the same output.
package assign
