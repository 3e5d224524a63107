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
	// its sender blocks (backpressure). Default 16.
	ChannelCapacity int
	// ProcessingTimeInterval is how often processing-time timers are
	// checked. Default 100ms.
	ProcessingTimeInterval time.Duration
	// LocalDir is where tasks write the synchronous part of snapshots
	// (chk-<n>/<task>/); it must be on the state's filesystem.
	LocalDir string
	Log      *zap.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Restored is what a graph resumes from: per source task its positions,
// per keyed task the in-flight elements of an unaligned checkpoint.
type Restored struct {
	// Checkpoint is the id of the checkpoint restored (0: none).
	Checkpoint int64
	Positions  map[int][]Position
	InFlight   map[int][]InFlight
	// Transactions are the pending sink transactions of the newest complete
	// checkpoint (HoldUntil), by keyed task: see OpenContext.
	Transactions map[int][]Transaction
	HoldUntil    int64
}

// Graph is a running job: source tasks, the key exchange, keyed tasks.
type Graph struct {
	sources []*sourceTask
	keyed   []*keyedTask
	srcs    []Source

	restored Restored
	chain    []OperatorSpec
	cfg      GraphConfig
	notified *notifyTracker
	dlCount  atomic.Int64
}

// Chains are the operators of a job: Source runs in every source task,
// before the key exchange, and must be stateless (its operators get no
// state and no checkpoint calls); Keyed runs in every keyed task.
type Chains struct {
	Source, Keyed []OperatorSpec
}

// NewGraph builds a graph of one source task per source and one keyed task
// per state backend. The caller owns sources and backends and closes them
// after Run returns.
func NewGraph(cfg GraphConfig, sources []Source, backends []*state.Backend, chains Chains, restored Restored, ckpt Checkpointer) (*Graph, error) {
	chain := chains.Keyed
	if len(sources) == 0 || len(backends) == 0 {
		return nil, errors.New("operators: a graph needs at least one source and one keyed task")
	}
	if cfg.MaxParallelism == 0 {
		cfg.MaxParallelism = 128
	}
	if len(backends) > cfg.MaxParallelism {
		return nil, fmt.Errorf("operators: %d keyed tasks exceed max parallelism %d", len(backends), cfg.MaxParallelism)
	}
	if cfg.ChannelCapacity == 0 {
		cfg.ChannelCapacity = 16
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
	// chans[s][k] carries source s's elements to keyed task k.
	chans := make([][]chan element, len(sources))
	for s := range sources {
		chans[s] = make([]chan element, len(backends))
		for k := range backends {
			chans[s][k] = make(chan element, cfg.ChannelCapacity)
		}
	}
	g := &Graph{srcs: sources, notified: newNotifyTracker()}
	for s, src := range sources {
		outs := make([]chan<- element, len(backends))
		for k := range backends {
			outs[k] = chans[s][k]
		}
		id := TaskID{Stage: "source", Index: s}
		st := &sourceTask{
			id: id, src: src, out: newExchange(outs, cfg.MaxParallelism), ckpt: ckpt,
			log: cfg.Log.With(zap.Stringer("task", id)), mail: newMailbox(), notified: g.notified,
			bufs: make([]collector, len(chains.Source)),
		}
		for _, spec := range chains.Source {
			op, err := spec.New(s)
			if err != nil {
				return nil, fmt.Errorf("operators: create %s for %s: %w", spec.Name, id, err)
			}
			st.ops = append(st.ops, op)
			st.opNames = append(st.opNames, spec.Name)
		}
		g.sources = append(g.sources, st)
	}
	for k, b := range backends {
		id := TaskID{Stage: "keyed", Index: k}
		ins := make([]<-chan element, len(sources))
		for s := range sources {
			ins[s] = chans[s][k]
		}
		ops := make([]Operator, len(chain))
		for i, spec := range chain {
			op, err := spec.New(k)
			if err != nil {
				return nil, fmt.Errorf("operators: create %s for %s: %w", spec.Name, id, err)
			}
			ops[i] = op
		}
		g.keyed = append(g.keyed, &keyedTask{
			id: id, inputs: ins, ops: ops, backend: b, ckpt: ckpt,
			exactlyOnce: cfg.ExactlyOnce, alignTimeout: cfg.AlignmentTimeout,
			procInterval: cfg.ProcessingTimeInterval, localDir: cfg.LocalDir,
			log: cfg.Log.With(zap.Stringer("task", id)), now: cfg.Now, mail: newMailbox(), notified: g.notified,
			replay: restored.InFlight[k], dlCount: &g.dlCount,
		})
		if len(ops) > 0 {
			if dl, ok := ops[len(ops)-1].(DeadLetterSink); ok {
				g.keyed[k].dlSink = dl
			}
		}
	}
	g.restored = restored
	g.chain = chain
	g.cfg = cfg
	return g, nil
}

// DeadLetters is the number of records operators rejected.
func (g *Graph) DeadLetters() int64 { return g.dlCount.Load() }

// Tasks lists every task; each acknowledges every checkpoint.
func (g *Graph) Tasks() []TaskID {
	ids := make([]TaskID, 0, len(g.sources)+len(g.keyed))
	for _, t := range g.sources {
		ids = append(ids, t.id)
	}
	for _, t := range g.keyed {
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

// NotifyComplete tells every task that checkpoint id is complete; positions
// are the source tasks' positions in it, by source index. It does not
// block.
func (g *Graph) NotifyComplete(id int64, positions map[int][]Position) {
	for i, t := range g.sources {
		t.mail.put(control{complete: id, positions: positions[i]})
		t.wake()
	}
	for _, t := range g.keyed {
		t.mail.put(control{complete: id})
	}
}

// Run opens the sources and operators and runs every task until ctx is done
// (then it returns nil) or a task fails (then it returns that error and
// stops the others).
func (g *Graph) Run(ctx context.Context) error {
	for i, t := range g.sources {
		if err := t.src.Open(ctx, g.restored.Positions[i]); err != nil {
			return fmt.Errorf("%s: open source: %w", t.id, err)
		}
	}
	var opened []Operator
	defer func() {
		for _, op := range opened {
			if err := op.Close(); err != nil {
				g.cfg.Log.Warn("close operator", zap.Error(err))
			}
		}
	}()
	for _, t := range g.sources {
		for i, op := range t.ops {
			oc := OpenContext{Name: t.opNames[i], Task: t.id.Index, Parallelism: len(g.sources),
				Log: t.log.Named(t.opNames[i]), Now: g.cfg.Now, Reject: t.reject(t.opNames[i])}
			if err := op.Open(ctx, oc); err != nil {
				return fmt.Errorf("%s: open %s: %w", t.id, t.opNames[i], err)
			}
			opened = append(opened, op)
		}
	}
	for _, t := range g.keyed {
		for i, op := range t.ops {
			oc := OpenContext{
				Name: g.chain[i].Name, Task: t.id.Index, Parallelism: len(g.keyed),
				State: t.backend, Log: t.log.Named(g.chain[i].Name), Now: g.cfg.Now,
				Reject: t.reject(g.chain[i].Name), RestoredCheckpoint: g.restored.Checkpoint,
				PendingTransactions: g.restored.Transactions[t.id.Index], HoldUntil: g.restored.HoldUntil,
			}
			if err := op.Open(ctx, oc); err != nil {
				return fmt.Errorf("%s: open %s: %w", t.id, g.chain[i].Name, err)
			}
			opened = append(opened, op)
		}
	}
	eg, ctx := errgroup.WithContext(ctx)
	for _, t := range g.sources {
		eg.Go(func() error { return t.run(ctx) })
	}
	for _, t := range g.keyed {
		eg.Go(func() error { return t.run(ctx) })
	}
	return eg.Wait()
}
