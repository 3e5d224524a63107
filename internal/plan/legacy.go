package plan

import (
	"fmt"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/builtin"
	"github.com/tidemark/tidemark/plugin"
)

// Legacy stage names: a single-chain job keeps them (task ids,
// transactional ids "<prefix>-<task>-<slot>", checkpoint layout).
const (
	LegacySourceStage = "source"
	LegacyKeyedStage  = "keyed"
)

// buildLegacy plans a single-chain configuration exactly as it ran
// before (design §1.6): every key_by in the source tasks (stage
// "source"), a hash exchange on the record key, every other operator and
// the sink in the keyed tasks (stage "keyed"), which always keep state.
func buildLegacy(cfg *config.Config) (*Job, error) {
	p := cfg.Job.Parallelism
	src := &Source{Name: config.LegacySourceName, Config: cfg.LegacySource(), Mode: plugin.Append}
	srcStage := &Stage{Name: LegacySourceStage, Kind: SourceStage, Tasks: p, Sources: []*Source{src}}
	keyed := &Stage{Name: LegacyKeyedStage, Kind: KeyedStage, Tasks: p, Stateful: true, SinkBearing: true}
	src.Stage = srcStage
	j := &Job{Name: cfg.Job.Name, MaxParallelism: cfg.Job.MaxParallelism, Parallelism: p, Legacy: true,
		Stages: []*Stage{srcStage, keyed}, Sources: []*Source{src}, DeadLetterTopic: cfg.DeadLetterTopic(), Config: cfg}
	// The last node of the chain so far: edges leave from it.
	var last *Node
	link := func(n *Node, kind EdgeKind) {
		e := &Edge{Kind: kind, To: n, Mode: plugin.Append}
		if last == nil {
			e.FromSource = src
			src.Outs = append(src.Outs, e)
		} else {
			e.From = last
			last.Outs[0] = append(last.Outs[0], e)
		}
		n.Ins = append(n.Ins, e)
		if kind == Hash {
			keyed.Inputs = append(keyed.Inputs, e)
			srcStage.Outputs = append(srcStage.Outputs, e)
		}
		last = n
	}
	node := func(name, typ, describe string, st *Stage, mk func() operators.Operator) *Node {
		n := &Node{Name: name, Operator: name, Type: typ, Kind: OperatorNode, Stage: st, Inputs: 1,
			InModes: []plugin.Mode{plugin.Append}, Mode: plugin.Append, Ports: []string{""}, Outs: make([][]*Edge, 1),
			Describe: describe}
		if mk != nil {
			n.new = func(*plugin.Resources) (operators.Operator, error) { return mk(), nil }
		}
		return n
	}
	// key_by runs before the key exchange, so that state is kept by the
	// new key (as internal/runner did).
	for i, op := range cfg.Pipeline.Operators {
		if op.Type != "key_by" {
			continue
		}
		field := op.Field
		n := node(cfg.LegacyOperatorName(i), "key_by", "type=key_by field="+field, srcStage,
			func() operators.Operator { return &builtin.KeyBy{Field: field} })
		n.PreservesKey = false
		srcStage.Nodes = append(srcStage.Nodes, n)
		link(n, Chain)
	}
	kind := Hash
	for i, op := range cfg.Pipeline.Operators {
		var mk func() operators.Operator
		switch op.Type {
		case "key_by":
			continue
		case "passthrough":
			mk = func() operators.Operator { return &builtin.Passthrough{} }
		case "count":
			mk = func() operators.Operator { return &builtin.Count{} }
		default:
			return nil, &config.Error{Problems: []config.Problem{{Key: fmt.Sprintf("pipeline.operators[%d].type", i), Line: cfg.Line(fmt.Sprintf("pipeline.operators[%d].type", i)),
				Msg: fmt.Sprintf("unknown %q: the single-chain form has key_by, passthrough and count; other operators need the job graph form (see `processor migrate`)", op.Type)}}}
		}
		n := node(cfg.LegacyOperatorName(i), op.Type, "type="+op.Type, keyed, mk)
		n.Stateful = op.Type == "count"
		n.PreservesKey = true
		keyed.Nodes = append(keyed.Nodes, n)
		link(n, kind)
		kind = Chain
	}
	sc := cfg.LegacySink()
	sink := node(config.LegacySinkName, "kafka", "type=kafka", keyed, nil)
	sink.Kind, sink.Sink, sink.Outs, sink.Ports = SinkNode, &sc, nil, nil
	keyed.Nodes = append(keyed.Nodes, sink)
	link(sink, kind)
	j.Sinks = []*Node{sink}
	return j, nil
}
