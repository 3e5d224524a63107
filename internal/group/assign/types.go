package assign

// Task is one task of the epoch's task list (docs/scale-out.md §2.1).
type Task struct {
	// ID is the task's id, "<stage>-<index>".
	ID string
	// Stage is the stage the task belongs to; load is balanced per stage.
	Stage string
	// Stateful is true for tasks with a Pebble (keyed stages with state).
	// A stateful task moves only to a member holding a caught-up copy of
	// its state, otherwise through a warm-up; a stateless one moves at once.
	Stateful bool
}

// Epoch is what the leader knows of the current epoch (§4.7, §8.4).
type Epoch struct {
	// Number is the epoch, at least 1.
	Number uint64
	// Fingerprint is the epoch's topology fingerprint without the
	// parallelism line (§3.1).
	Fingerprint string
	// Parallelism is the epoch's job.parallelism.
	Parallelism int
	// Tasks is the epoch's task list; ids must be unique.
	Tasks []Task
	// StoppedBy names the drained savepoint that stopped the epoch (§8.4),
	// empty while the epoch runs. A stopped epoch's tasks go to nobody.
	StoppedBy string
}

// OwnedTask is a task a member runs now, with the task-lease generation
// it claimed (§4.3).
type OwnedTask struct {
	Task            string
	LeaseGeneration uint64
}

// LocalCopy is a task a member holds a local checkpoint copy of (former
// owner, warm-up or standby follower): the task and the checkpoint id the
// copy is at.
type LocalCopy struct {
	Task       string
	Checkpoint uint64
}

// Metadata is a member's metadata, carried in the UserData of its
// ConsumerMemberMetadata (§3.1); EncodeMetadata and DecodeMetadata are its
// codec.
type Metadata struct {
	// Fingerprint is the member's topology fingerprint without the
	// parallelism line (operators, max_parallelism, exchange settings).
	Fingerprint string
	// Parallelism is the member's job.parallelism.
	Parallelism int
	// Epoch is the newest epoch the member has read. Its Owned and Local
	// entries name tasks of that epoch.
	Epoch uint64
	// Owned lists the tasks the member runs now.
	Owned []OwnedTask
	// Local lists the tasks the member holds a local checkpoint copy of.
	Local []LocalCopy
	// Capacity is the member's relative weight; 0 counts as 1.
	Capacity int
	// Rack is the member's rack or zone, empty if unknown; standbys go to
	// other racks first.
	Rack string
}

// Member is one member of the group generation being assigned.
type Member struct {
	// ID identifies the member (its group.instance_id); unique.
	ID string
	Metadata
}

// CheckpointSize is what one record of the tasks topic (§3.4) says of a
// completed checkpoint of a task.
type CheckpointSize struct {
	// ID is the checkpoint id.
	ID uint64
	// Previous is the task's previous completed checkpoint, the one
	// UploadedBytes is counted against; 0 for the task's first.
	Previous uint64
	// UploadedBytes is what this checkpoint uploaded beyond Previous.
	UploadedBytes int64
	// StateBytes is the size of all the files the checkpoint references.
	StateBytes int64
}

// Progress is the leader's view of one task's checkpoints, read from the
// tasks topic: the records it has read, in any order. The topic is
// compacted, so older records may be missing; a copy older than the chain
// the leader can follow counts as lacking the whole state.
type Progress struct {
	Task        string
	Checkpoints []CheckpointSize
}

// Options are the scale.* settings the assignor uses (§10).
type Options struct {
	// StandbyReplicas is scale.standby_replicas: followers per stateful
	// task on members other than its owner.
	StandbyReplicas int
	// MaxWarmups is scale.max_warmups: warm-up tasks at a time in the
	// whole group. 0 disables warm-ups: a stateful task then moves for
	// balance only to a member that already holds a caught-up copy.
	MaxWarmups int
	// AcceptableRecoveryBytes is scale.acceptable_recovery_bytes: a copy
	// lacking at most this many bytes of the task's newest checkpoint is
	// caught up.
	AcceptableRecoveryBytes int64
}

// DefaultOptions returns the defaults of §10: no standbys, 2 warm-ups,
// 256 MiB.
func DefaultOptions() Options {
	return Options{StandbyReplicas: 0, MaxWarmups: 2, AcceptableRecoveryBytes: 256 << 20}
}

// Input is everything one assignment is computed from.
type Input struct {
	Epoch    Epoch
	Members  []Member
	Progress []Progress
	Options  Options
}

// Assignment is one member's assignment, carried in the UserData of its
// ConsumerMemberAssignment (§3.1); EncodeAssignment and DecodeAssignment
// are its codec. Task lists are sorted by id.
type Assignment struct {
	// Epoch is the epoch the tasks belong to.
	Epoch uint64
	// Active lists the tasks the member runs (claiming their lease if it
	// does not run them yet).
	Active []string
	// Warmup lists the tasks the member follows until its copy is caught
	// up, after which the task moves to it.
	Warmup []string
	// Standby lists the tasks the member follows permanently.
	Standby []string
	// Reason says why the member gets no task, and how to proceed; empty
	// when it gets some.
	Reason string
}

// MemberAssignment is a member's id with its assignment.
type MemberAssignment struct {
	Member string
	Assignment
}

// Move is a task handed over between members (§3.3): in this generation
// the task is assigned to nobody, so that From stops it and releases its
// lease; To is the member the leader plans to give it to in the next
// generation (empty if From must stop it but no target has room yet).
type Move struct {
	Task string
	From string
	To   string
}

// Transition asks the leader to start a new epoch (§8.4): no member
// matches the epoch, all agree on a configuration differing from it only
// by job.parallelism, and the epoch runs nowhere.
type Transition struct {
	// From is the current epoch.
	From uint64
	// Parallelism is the members' job.parallelism, the new epoch's.
	Parallelism int
}

// Output is the result of Assign.
type Output struct {
	// Members holds one assignment per input member, sorted by member id.
	Members []MemberAssignment
	// Moves lists the handovers started in this generation, sorted by task.
	Moves []Move
	// AboveShare lists, sorted, the orphans given to a member already at
	// its share of their stage because no member with room held a
	// caught-up copy (rule 3 puts a task running at once before balance);
	// a later generation evens the load through a warm-up, one more move.
	AboveShare []string
	// Transition is non-nil when the leader should start a new epoch
	// instead of running this one.
	Transition *Transition
}
