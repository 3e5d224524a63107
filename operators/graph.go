package operators

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/operators/state"
)

// OperatorSpec names an operator of the keyed chain and makes one instance
// per keyed task.
type OperatorSpec struct {
	Name string
	// Describe lists the operator's type and the settings its state
	// depends on ("type=key_by field=user"): they are part of the job's
	// topology fingerprint, so that state is never restored into other
	// logic.
	Describe string
	New      func(task int) (Operator, error)
}

// DefaultChannelBytes is GraphConfig.ChannelBytes' default: about two
// fetches of kafka.fetch_max_bytes' default (512 KiB).
const DefaultChannelBytes = 1 << 20

// GraphConfig configures a job graph. Zero fields take the defaults given.
type GraphConfig struct {
	// MaxParallelism is the number of key groups. Default 128.
	MaxParallelism int
	// ExactlyOnce aligns barriers; otherwise inputs are not held.
	ExactlyOnce bool
	// AlignmentTimeout, when positive, turns a checkpoint whose barriers
	// have not all arrived by then into an unaligned one.
	AlignmentTimeout time.Duration
	// ChannelCapacity is the number of batches each channel buffers before
	// its sender blocks (backpressure). Default 4: a barrier queues behind
	// every batch buffered ahead of it, so under backpressure the buffer
	// is the checkpoint's start delay (Stats.StartDelay); and a source's
	// batch is a whole fetch (thousands of records, which keep the fetched
	// buffers alive): 16 per channel held over 100 MB in flight on a keyed
	// count at parallelism 2 (issue 11).
	ChannelCapacity int
	// ChannelBytes bounds the bytes of the record batches in flight on
	// each channel: queued, and being processed by the receiving task
	// (each record counts RecordBytes). A batch larger than the bound
	// goes alone. Default DefaultChannelBytes; negative: no bound but
	// ChannelCapacity. The records of a source's batch point into the
	// fetched buffers, which stay alive as long as they do: this is what
	// bounds them.
	ChannelBytes int64
	// ProcessingTimeInterval is how often processing-time timers are
	// checked. Default 100ms.
	ProcessingTimeInterval time.Duration
	// LocalDir is where tasks write the synchronous part of snapshots
	// (chk-<n>/<task>/); it must be on the state's filesystem.
	LocalDir string
	Log      *zap.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Guard is passed to every operator and committer (OpenContext.Guard).
	Guard func(ctx context.Context) error
	// Metrics, if set, counts records and dead letters and exports
	// watermark lag (one per job: see NewMetrics).
	Metrics *Metrics
}

// Restored is what a graph resumes from.
type Restored struct {
	// Checkpoint is the id of the checkpoint restored (0: none).
	Checkpoint int64
	// Positions are the restored positions by source name; every task of
	// the source's stage gets all of them (which task owns a partition
	// may change). A legacy job's one source is named "".
	Positions map[string][]Position
	// InFlight are the in-flight elements of an unaligned checkpoint, by
	// task.
	InFlight map[TaskID][]InFlight
	// Transactions are the pending sink transactions of the newest complete
	// checkpoint (HoldUntil), by task: see OpenContext.
	Transactions map[TaskID][]Transaction
	HoldUntil    int64
}

// GraphSpec is the physical plan a graph runs (design §3.1): stages in
// topological order. internal/plan produces it from a job's config.
type GraphSpec struct {
	Stages []StageSpec
}

// StageSpec is one stage: Tasks parallel tasks, each running every node
// of the stage.
type StageSpec struct {
	// Name is the stage's name: task ids are <name>-<index>.
	Name  string
	Tasks int
	// Source is the name of the source a source stage reads (a legacy
	// job's is ""); the graph is given one Source per task of the stage.
	// A stage with no Source reads the channels of the hash edges into it.
	Source     string
	IsSource   bool
	SourceOuts []Edge
	// Stateful stages are given a state backend per task.
	Stateful bool
	// Nodes are the stage's operators in topological order.
	Nodes []NodeSpec
	// NewCommitter, if set, makes the transactional output of each task of
	// a sink-bearing stage (OpenContext.Committer).
	NewCommitter func(task TaskID) (TaskCommitter, error)
}

// NodeSpec is one operator of a stage.
type NodeSpec struct {
	// Name identifies the operator and its state; unique within the job.
	Name string
	New  func(task int) (Operator, error)
	// Outs are the edges leaving the node.
	Outs []Edge
}

// Edge leads from an output port of a node (or from a stage's source) to
// an input port of another node: a chain edge when Stage is empty (the
// node is in the same stage), else a hash edge into stage Stage.
type Edge struct {
	// FromPort is the output port: 0 main, i the i-th side output.
	FromPort int
	Stage    string
	To       string
	ToPort   int
	// Key computes To's key for this input: on a hash edge in the
	// sending task (then records are routed by it), on a chain edge in
	// the task before To sees the record. Nil keeps the record key. A
	// record whose key fails is rejected (dead letter) in the name of To.
	Key func(Record) ([]byte, error)
}

// Graph is a running job: its stages' tasks and the channels between
// them.
type Graph struct {
	tasks   []*task // every task, stages in order
	sources []*task // the tasks reading sources

	restored Restored
	cfg      GraphConfig
	notified *notifyTracker
	dlCount  atomic.Int64
	// specs holds, per task, the node specs and stage for opening.
	opens    map[*task]stageOpen
	ended    chan struct{}
	endCount atomic.Int64
}

type stageOpen struct {
	stage *StageSpec
	tasks int
}

// Chains are the operators of a legacy job: Source runs in every source
// task, before the key exchange, and must be stateless (its operators get
// no state); Keyed runs in every keyed task.
type Chains struct {
	Source, Keyed []OperatorSpec
}

// NewGraph builds a legacy graph: stage "source" with one task per source
// running chains.Source, a hash edge on the record key, and stage "keyed"
// with one task per state backend running chains.Keyed. The caller owns
// sources and backends and closes them after Run returns.
func NewGraph(cfg GraphConfig, sources []Source, backends []*state.Backend, chains Chains, restored Restored, ckpt Checkpointer) (*Graph, error) {
	if len(sources) == 0 || len(backends) == 0 {
		return nil, errors.New("operators: a graph needs at least one source and one keyed task")
	}
	spec := LegacySpec(len(sources), len(backends), chains)
	bs := map[TaskID]*state.Backend{}
	for k, b := range backends {
		bs[TaskID{Stage: "keyed", Index: k}] = b
	}
	return NewDAG(cfg, spec, map[string][]Source{"source": sources}, bs, restored, ckpt)
}

// LegacySpec is the plan of a legacy single-chain job: stage "source"
// (sources tasks) runs chains.Source, a hash edge on the record key leads
// to stage "keyed" (keyed tasks) running chains.Keyed.
func LegacySpec(sources, keyed int, chains Chains) GraphSpec {
	chain := func(ops []OperatorSpec, last []Edge) []NodeSpec {
		nodes := make([]NodeSpec, len(ops))
		for i, op := range ops {
			nodes[i] = NodeSpec{Name: op.Name, New: op.New}
			if i+1 < len(ops) {
				nodes[i].Outs = []Edge{{To: ops[i+1].Name}}
			} else {
				nodes[i].Outs = last
			}
		}
		return nodes
	}
	keyedChain := chains.Keyed
	if len(keyedChain) == 0 {
		keyedChain = []OperatorSpec{{Name: "discard", New: func(int) (Operator, error) { return discard{}, nil }}}
	}
	toKeyed := []Edge{{Stage: "keyed", To: keyedChain[0].Name}}
	src := StageSpec{Name: "source", Tasks: sources, IsSource: true, Nodes: chain(chains.Source, toKeyed)}
	if len(chains.Source) > 0 {
		src.SourceOuts = []Edge{{To: chains.Source[0].Name}}
	} else {
		src.SourceOuts = toKeyed
	}
	return GraphSpec{Stages: []StageSpec{
		src,
		{Name: "keyed", Tasks: keyed, Stateful: true, Nodes: chain(keyedChain, nil)},
	}}
}

// discard drops every record.
type discard struct{ Base }

func (discard) Process(context.Context, []Record, Collector) error { return nil }

// NewDAG builds the graph of spec: sources gives each source stage (by
// stage name) one Source per task, backends each task of a stateful stage
// its state. The caller owns sources and backends and closes them after
// Run returns.
func NewDAG(cfg GraphConfig, spec GraphSpec, sources map[string][]Source, backends map[TaskID]*state.Backend, restored Restored, ckpt Checkpointer) (*Graph, error) {
	if cfg.MaxParallelism == 0 {
		cfg.MaxParallelism = 128
	}
	if cfg.ChannelCapacity == 0 {
		cfg.ChannelCapacity = 4
	}
	if cfg.ChannelBytes == 0 {
		cfg.ChannelBytes = DefaultChannelBytes
	}
	if cfg.ProcessingTimeInterval == 0 {
		cfg.ProcessingTimeInterval = 100 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Graph{notified: newNotifyTracker(), restored: restored, cfg: cfg, opens: map[*task]stageOpen{}, ended: make(chan struct{})}
	stageIdx := map[string]int{}
	nodeIdx := make([]map[string]int, len(spec.Stages))
	for s := range spec.Stages {
		st := &spec.Stages[s]
		if _, dup := stageIdx[st.Name]; dup {
			return nil, fmt.Errorf("operators: two stages named %q", st.Name)
		}
		if st.Tasks <= 0 {
			return nil, fmt.Errorf("operators: stage %s has %d tasks", st.Name, st.Tasks)
		}
		if st.Tasks > cfg.MaxParallelism {
			return nil, fmt.Errorf("operators: stage %s: %d tasks exceed max parallelism %d", st.Name, st.Tasks, cfg.MaxParallelism)
		}
		stageIdx[st.Name] = s
		nodeIdx[s] = map[string]int{}
		for i, n := range st.Nodes {
			if _, dup := nodeIdx[s][n.Name]; dup {
				return nil, fmt.Errorf("operators: stage %s has two operators named %q", st.Name, n.Name)
			}
			nodeIdx[s][n.Name] = i
		}
	}
	// Make the tasks.
	tasks := make([][]*task, len(spec.Stages))
	for s := range spec.Stages {
		st := &spec.Stages[s]
		srcs := sources[st.Name]
		if st.IsSource && len(srcs) != st.Tasks {
			return nil, fmt.Errorf("operators: source stage %s has %d tasks but %d sources", st.Name, st.Tasks, len(srcs))
		}
		for i := range st.Tasks {
			id := TaskID{Stage: st.Name, Index: i}
			t := &task{
				id: id, ckpt: ckpt, log: cfg.Log.With(zap.Stringer("task", id)), now: cfg.Now, mail: newMailbox(),
				notified: g.notified, dlCount: &g.dlCount, localDir: cfg.LocalDir,
				exactlyOnce: cfg.ExactlyOnce, alignTimeout: cfg.AlignmentTimeout, procInterval: cfg.ProcessingTimeInterval,
				replay: restored.InFlight[id], metrics: cfg.Metrics, wmCell: cfg.Metrics.watermark(id),
			}
			if st.IsSource {
				t.src, t.srcName = srcs[i], st.Source
				t.srcIn = cfg.Metrics.source(st.Source)
				t.onEnded = g.sourceEnded
			}
			if st.Stateful {
				t.backend = backends[id]
				if t.backend == nil {
					return nil, fmt.Errorf("operators: stateful task %s has no state backend", id)
				}
			}
			for _, ns := range st.Nodes {
				op, err := ns.New(i)
				if err != nil {
					return nil, fmt.Errorf("operators: create %s for %s: %w", ns.Name, id, err)
				}
				nd := taskNode{name: ns.Name, op: op, counts: cfg.Metrics.node(ns.Name)}
				if m, ok := op.(MultiInput); ok {
					nd.multi = m
				}
				t.nodes = append(t.nodes, nd)
			}
			if n := len(t.nodes); n > 0 {
				if dl, ok := t.nodes[n-1].op.(DeadLetterSink); ok {
					t.dlSink = dl
				}
			}
			g.opens[t] = stageOpen{stage: st, tasks: st.Tasks}
			tasks[s] = append(tasks[s], t)
			g.tasks = append(g.tasks, t)
			if st.IsSource {
				g.sources = append(g.sources, t)
			}
		}
	}
	// Wire the edges: chain edges as node targets, hash edges as P×Q
	// channels.
	wire := func(s int, from string, e Edge) ([]target, error) {
		st := &spec.Stages[s]
		if e.Stage == "" {
			n, ok := nodeIdx[s][e.To]
			if !ok {
				return nil, fmt.Errorf("operators: %s of stage %s leads to %q, not an operator of the stage", from, st.Name, e.To)
			}
			ts := make([]target, st.Tasks)
			for i := range ts {
				ts[i] = target{node: n, port: e.ToPort, key: e.Key, keyOf: e.To}
			}
			return ts, nil
		}
		d, ok := stageIdx[e.Stage]
		if !ok {
			return nil, fmt.Errorf("operators: %s of stage %s leads to unknown stage %q", from, st.Name, e.Stage)
		}
		if d <= s {
			return nil, fmt.Errorf("operators: %s of stage %s leads back to stage %s: stages must be in topological order", from, st.Name, e.Stage)
		}
		n, ok := nodeIdx[d][e.To]
		if !ok {
			return nil, fmt.Errorf("operators: %s of stage %s leads to %q, not an operator of stage %s", from, st.Name, e.To, e.Stage)
		}
		ts := make([]target, st.Tasks)
		for i, up := range tasks[s] {
			outs := make([]chan<- element, len(tasks[d]))
			for j, down := range tasks[d] {
				ch := make(chan element, cfg.ChannelCapacity)
				outs[j] = ch
				down.inputs = append(down.inputs, input{ch: ch, node: n, port: e.ToPort})
			}
			x := newExchange(outs, cfg.MaxParallelism, cfg.ChannelBytes)
			x.key, x.keyOf = e.Key, e.To
			up.exchanges = append(up.exchanges, x)
			ts[i] = target{node: -1, x: x}
		}
		return ts, nil
	}
	for s := range spec.Stages {
		st := &spec.Stages[s]
		if st.IsSource {
			for _, e := range st.SourceOuts {
				ts, err := wire(s, "the source", e)
				if err != nil {
					return nil, err
				}
				for i, t := range tasks[s] {
					t.srcOuts = append(t.srcOuts, ts[i])
				}
			}
		} else if len(st.SourceOuts) > 0 {
			return nil, fmt.Errorf("operators: stage %s has source edges but no source", st.Name)
		}
		for n, ns := range st.Nodes {
			for _, e := range ns.Outs {
				ts, err := wire(s, "operator "+ns.Name, e)
				if err != nil {
					return nil, err
				}
				for i, t := range tasks[s] {
					nd := &t.nodes[n]
					for len(nd.outs) <= e.FromPort {
						nd.outs = append(nd.outs, nil)
					}
					nd.outs[e.FromPort] = append(nd.outs[e.FromPort], ts[i])
				}
			}
		}
	}
	for s := range spec.Stages {
		st := &spec.Stages[s]
		if !st.IsSource && len(tasks[s]) > 0 && len(tasks[s][0].inputs) == 0 {
			return nil, fmt.Errorf("operators: stage %s has neither a source nor an input", st.Name)
		}
	}
	return g, nil
}

// sourceEnded counts a bounded source task that reached its end.
func (g *Graph) sourceEnded() {
	if g.endCount.Add(1) == int64(len(g.sources)) {
		close(g.ended)
	}
}

// Ended is closed once every source task reached the end of a bounded
// source (stop_at: end): take the final checkpoint then.
func (g *Graph) Ended() <-chan struct{} { return g.ended }

// DeadLetters is the number of records operators rejected.
func (g *Graph) DeadLetters() int64 { return g.dlCount.Load() }

// Tasks lists every task; each acknowledges every checkpoint.
func (g *Graph) Tasks() []TaskID {
	ids := make([]TaskID, 0, len(g.tasks))
	for _, t := range g.tasks {
		ids = append(ids, t.id)
	}
	return ids
}

// Trigger starts checkpoint id: every source task records its positions
// and emits barrier id between two polls. It does not block.
func (g *Graph) Trigger(id int64) {
	for _, t := range g.sources {
		t.mail.put(control{trigger: id})
		t.wake()
	}
}

// TriggerFinal starts checkpoint id as the job's last: after its barrier
// the source tasks read nothing more. It does not block.
func (g *Graph) TriggerFinal(id int64) {
	for _, t := range g.sources {
		t.mail.put(control{trigger: id, final: true})
		t.wake()
	}
}

// AwaitNotified waits until every task has handled the completion of
// checkpoint id (sinks have committed, sources committed offsets).
func (g *Graph) AwaitNotified(ctx context.Context, id int64) error {
	return g.notified.wait(ctx, id, g.Tasks())
}

// NotifyComplete tells every task that checkpoint id is complete;
// positions are the source tasks' positions in it. It does not block.
func (g *Graph) NotifyComplete(id int64, positions map[TaskID][]Position) {
	for _, t := range g.tasks {
		t.mail.put(control{complete: id, positions: positions[t.id]})
		if t.src != nil {
			t.wake()
		}
	}
}

// Run opens the sources, committers and operators and runs every task
// until ctx is done (then it returns nil) or a task fails (then it returns
// that error and stops the others).
func (g *Graph) Run(ctx context.Context) error {
	for _, t := range g.sources {
		if err := t.src.Open(ctx, g.restored.Positions[t.srcName]); err != nil {
			return fmt.Errorf("%s: open source: %w", t.id, err)
		}
	}
	var opened []Operator
	var committers []TaskCommitter
	defer func() {
		for _, op := range opened {
			if err := op.Close(); err != nil {
				g.cfg.Log.Warn("close operator", zap.Error(err))
			}
		}
		for _, c := range committers {
			if err := c.Close(); err != nil {
				g.cfg.Log.Warn("close committer", zap.Error(err))
			}
		}
	}()
	for _, t := range g.tasks {
		so := g.opens[t]
		if so.stage.NewCommitter != nil {
			c, err := so.stage.NewCommitter(t.id)
			if err != nil {
				return fmt.Errorf("%s: open committer: %w", t.id, err)
			}
			t.committer = c
			committers = append(committers, c)
		}
		for i := range t.nodes {
			nd := &t.nodes[i]
			oc := OpenContext{
				Name: nd.name, Task: t.id.Index, Parallelism: so.tasks,
				State: t.backend, Log: t.log.Named(nd.name), Now: g.cfg.Now,
				Reject: t.reject(nd.name), RestoredCheckpoint: g.restored.Checkpoint,
				PendingTransactions: g.restored.Transactions[t.id], HoldUntil: g.restored.HoldUntil,
				Committer: t.committer, Guard: g.cfg.Guard,
			}
			if err := nd.op.Open(ctx, oc); err != nil {
				return fmt.Errorf("%s: open %s: %w", t.id, nd.name, err)
			}
			opened = append(opened, nd.op)
		}
	}
	eg, ctx := errgroup.WithContext(ctx)
	for _, t := range g.tasks {
		eg.Go(func() error { return t.run(ctx) })
	}
	return eg.Wait()
}
