package runner

import (
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/internal/plan"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/aggregate"
	"github.com/tidemark/tidemark/operators/join"
	"github.com/tidemark/tidemark/plugin"
	"github.com/tidemark/tidemark/sink"
	"github.com/tidemark/tidemark/source"
)

// GraphOutput is the output block of a job graph's plan p (cfg.Output,
// the dead-letter topic), shared by every sink and committer of the job.
func GraphOutput(cfg *config.Config, p *plan.Job) sink.Output {
	key := "dead_letter.topic"
	if cfg.DeadLetter.Topic == "" {
		key = "dead_letter.topic (default <first sink's topic>-dead-letters)"
	}
	return sink.Output{
		TransactionalIDPrefix: cfg.TxnIDPrefix(),
		TransactionTimeout:    cfg.Output.TransactionTimeout,
		Delivery:              cfg.Output.Delivery,
		OnRejected:            cfg.Output.OnRejected,
		DeadLetterTopic:       p.DeadLetterTopic,
		DeadLetterKey:         key,
		Block:                 "output",
	}
}

// graphSpec builds the job of a configuration of the job graph form:
// plan.Build, then job.GraphSpec with one Kafka source per task of each
// source stage, a KafkaSink per sink node and a committer per task of
// each sink-bearing stage (transactional ids <prefix>-<stage>-<task>-<slot>);
// with exactly-once delivery the recovery settles every sink-bearing
// stage's pool, and checkpoints record them.
func graphSpec(env *plugin.Environment, cfg *config.Config, base []kgo.Opt, st storage.Store, written *atomic.Int64, ms *metrics, log *zap.Logger) (job.Spec, error) {
	p, err := plan.Build(cfg, env)
	if err != nil {
		return job.Spec{}, err
	}
	if p.Legacy {
		return job.Spec{}, fmt.Errorf("runner: %s is planned as a single chain", cfg.Job.Name)
	}
	out := GraphOutput(cfg, p)
	var sinkStages []string
	topicsOf := map[string][]sink.Topic{}
	for _, n := range p.Sinks {
		s := n.Stage.Name
		if !slices.Contains(sinkStages, s) {
			sinkStages = append(sinkStages, s)
		}
		if n.Sink.Topic != "" {
			topicsOf[s] = append(topicsOf[s], sink.Topic{Name: n.Sink.Topic, Key: "sinks[" + n.Operator + "].topic"})
		}
	}
	b := job.Builders{
		Log: log, Metrics: ms.registerer(),
		Sink: func(n *plan.Node, _ operators.TaskID) (operators.Operator, error) {
			sc := n.Sink
			ks, err := sink.NewKafkaSink(sink.Spec{
				Name: n.Operator, Topic: sc.Topic, TopicExpr: sc.TopicExpr,
				Key: sc.Key, Value: sc.Value, Timestamp: sc.Timestamp, Headers: sc.Headers,
				Format: sc.Format, Mode: sc.Mode, FieldOrder: fieldOrder(n),
			})
			if err != nil {
				return nil, fmt.Errorf("sink %s: %w", n.Name, err)
			}
			return ks, nil
		},
		Committer: func(stage *plan.Stage, _ operators.TaskID) (operators.TaskCommitter, error) {
			return sink.NewCommitter(sink.CommitterConfig{Output: out, Stage: stage.Name, Topics: topicsOf[stage.Name], Written: written,
				Metrics: ms.sinkMetrics(), PoolSize: sink.ConfiguredPoolSize(cfg)}, base), nil
		},
	}
	graph, err := job.GraphSpec(p, b)
	if err != nil {
		return job.Spec{}, err
	}
	var rec job.Recoverer
	var pools []checkpoint.SinkPool
	if out.Delivery == config.ExactlyOnce {
		sp := sink.StagePools(out.TransactionalIDPrefix, sinkStages, p.Parallelism, sink.ConfiguredPoolSize(cfg))
		rec = sink.Settler{Output: out, Base: base, Pools: sp, Log: log.Named("sink")}
		for _, pl := range sp {
			pools = append(pools, checkpoint.SinkPool{TransactionalIDPrefix: pl.Prefix, Stage: pl.Stage, Tasks: pl.Tasks, PoolSize: pl.Slots})
		}
	}
	spec := common(cfg, st, log)
	spec.Graph, spec.Description = &graph, p.Description()
	spec.NewGraphSources = func() (map[string][]operators.Source, error) {
		srcs := map[string][]operators.Source{}
		for _, s := range p.Sources {
			gs := source.GraphSource{Config: s.Config, Key: s.Key, EventTime: s.EventTime, Job: cfg.Job.Name, Lazy: lazySource(s)}
			n := s.Stage.Tasks
			for i := range n {
				srcs[s.Stage.Name] = append(srcs[s.Stage.Name], source.NewGraphKafka(gs, base, i, n, log.Named("source").With(zap.String("source", s.Name)), source.WithMetrics(ms.sourceMetrics())))
			}
		}
		return srcs, nil
	}
	spec.Recovery, spec.SinkPools = rec, pools
	return spec, nil
}

// fieldOrder is the order of the fields of the values sink node n
// receives, as the operator producing them declares it (design §2.3),
// looking through operators that pass rows on unchanged (rowKeeping);
// nil when unknown or when its inputs disagree.
func fieldOrder(n *plan.Node) []string {
	var order []string
	for i, e := range n.Ins {
		o := producedOrder(e.From)
		if i > 0 && !slices.Equal(o, order) {
			return nil
		}
		order = o
	}
	return order
}

// rowKeeping are the operator types whose output rows are input rows as
// they are (the field order of their input).
var rowKeeping = map[string]bool{"filter": true, "key_by": true, "dedup": true}

func producedOrder(n *plan.Node) []string {
	if n == nil || n.Config == nil {
		return nil
	}
	o := n.Config.OutputFields()
	if o == nil {
		// The aggregate's and join's specs do not declare their output
		// fields to the plugin (yet); their packages say them.
		switch n.Type {
		case "aggregate":
			o, _ = aggregate.FieldOrder(n.Config)
		case "join":
			o, _ = join.FieldOrder(n.Config)
		}
	}
	if o != nil || !rowKeeping[n.Type] {
		return o
	}
	return fieldOrder(n) // the plan is acyclic
}

// lazySource reports whether source s may hand its operators lazy values
// (source.GraphSource.Lazy: format/json.Raw, decoded field by field when
// read): when every node its records reach while they may still hold
// one handles a Raw exactly as the decoded value. Those are filters
// (they pass the record on), maps (their expressions read a Raw; one
// that neither lists fields nor sets, renames or drops any may pass it
// on), and sinks (they encode a Raw to the text of its decoded value),
// all on chain edges (the same task: no exchange, so no in-flight
// record holds one). Any other operator needs maps: then the source
// decodes every value as before.
func lazySource(s *plan.Source) bool {
	if s.Config.Format == config.FormatRaw {
		return false
	}
	return lazyEdges(s.Outs)
}

func lazyEdges(es []*plan.Edge) bool {
	for _, e := range es {
		if e.Kind != plan.Chain {
			return false
		}
		n := e.To
		if n.Kind == plan.SinkNode {
			continue
		}
		switch n.Type {
		case "filter":
		case "map":
			c := n.Config
			if c == nil {
				return false
			}
			if c.Contains("fields") || c.Contains("set") || c.Contains("rename") || c.Contains("drop") {
				continue // its values are maps it builds
			}
		default:
			return false
		}
		for _, port := range n.Outs {
			if !lazyEdges(port) {
				return false
			}
		}
	}
	return true
}
