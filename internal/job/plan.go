package job

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/internal/plan"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// Builders make what a plan leaves to the runtime: sink nodes and the
// committers of sink-bearing stages (package sink).
type Builders struct {
	// Sink makes a sink node's operator for one task.
	Sink func(n *plan.Node, task operators.TaskID) (operators.Operator, error)
	// Committer makes the committer of one task of a sink-bearing stage;
	// nil: the stage's sinks have none.
	Committer func(st *plan.Stage, task operators.TaskID) (operators.TaskCommitter, error)
	Log       *zap.Logger
	Now       func() time.Time
	// Metrics is where operators register their own metrics
	// (plugin.Resources.Metrics); none when nil.
	Metrics prometheus.Registerer
}

// GraphSpec turns a job graph's plan into the graph the runtime runs:
// one StageSpec per stage, nodes in the plan's order, chain edges between
// nodes of a stage, hash edges between stages with the consumer's key
// computed in the sending task. A legacy plan runs as Spec.SourceChain and
// Spec.Chain instead (operators.LegacySpec).
func GraphSpec(p *plan.Job, b Builders) (operators.GraphSpec, error) {
	if p.Legacy {
		return operators.GraphSpec{}, errors.New("job: a legacy plan runs as chains, not as a graph")
	}
	if b.Log == nil {
		b.Log = zap.NewNop()
	}
	if b.Now == nil {
		b.Now = time.Now
	}
	var g operators.GraphSpec
	for _, st := range p.Stages {
		ss := operators.StageSpec{Name: st.Name, Tasks: st.Tasks, Stateful: st.Stateful}
		if st.Kind == plan.SourceStage {
			if len(st.Sources) != 1 {
				return g, fmt.Errorf("job: source stage %s has %d sources, want 1", st.Name, len(st.Sources))
			}
			ss.IsSource, ss.Source = true, st.Sources[0].Name
			for _, e := range st.Sources[0].Outs {
				ss.SourceOuts = append(ss.SourceOuts, edge(e))
			}
		}
		for _, n := range st.Nodes {
			ns := operators.NodeSpec{Name: n.Name, New: nodeMaker(n, st, b)}
			for _, port := range n.Outs {
				for _, e := range port {
					ns.Outs = append(ns.Outs, edge(e))
				}
			}
			ss.Nodes = append(ss.Nodes, ns)
		}
		if st.SinkBearing && b.Committer != nil {
			ss.NewCommitter = func(id operators.TaskID) (operators.TaskCommitter, error) { return b.Committer(st, id) }
		}
		g.Stages = append(g.Stages, ss)
	}
	return g, nil
}

func nodeMaker(n *plan.Node, st *plan.Stage, b Builders) func(int) (operators.Operator, error) {
	if n.Kind == plan.SinkNode {
		return func(task int) (operators.Operator, error) {
			if b.Sink == nil {
				return nil, fmt.Errorf("job: sink %s: no sink builder", n.Name)
			}
			return b.Sink(n, operators.TaskID{Stage: st.Name, Index: task})
		}
	}
	return func(task int) (operators.Operator, error) {
		return n.New(&plugin.Resources{Name: n.Operator, Task: task, Parallelism: st.Tasks, Log: b.Log.Named(n.Name), Now: b.Now, Metrics: b.Metrics})
	}
}

func edge(e *plan.Edge) operators.Edge {
	oe := operators.Edge{FromPort: e.Port, To: e.To.Name, ToPort: e.Input, Key: keyFunc(e.Key)}
	if e.Kind == plan.Hash {
		oe.Stage = e.To.Stage.Name
	}
	return oe
}

// keyFunc evaluates k over a record (design §2.2); nil when k keeps the
// record key. It is safe for concurrent use: every task sending on the
// edge calls it.
func keyFunc(k *plugin.Key) func(operators.Record) ([]byte, error) {
	if k == nil || k.IsRecordKey() {
		return nil
	}
	envs := sync.Pool{New: func() any { return new(expression.Env) }}
	return func(r operators.Record) ([]byte, error) {
		env := envs.Get().(*expression.Env)
		defer envs.Put(env)
		env.Reset()
		env.SetRecord(&r)
		return k.Append(env, nil)
	}
}
