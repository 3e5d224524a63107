package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// Job is the physical plan of a job.
type Job struct {
	// Name is job.name.
	Name string
	// MaxParallelism is the number of key groups; Parallelism the number
	// of tasks of every stage.
	MaxParallelism, Parallelism int
	// Legacy is set for a configuration of the single-chain form: one
	// source stage "source" (its source is named "source"), one keyed
	// stage "keyed" behind a hash exchange on the record key, the sink
	// (named "sink", type "kafka") last; transactional ids and the
	// description lines are those of before.
	Legacy bool
	// Stages in topological order: a stage's inputs come from stages
	// before it. Source stages come first, in the order of sources.
	Stages []*Stage
	// Sources are the job's sources, in the order of the configuration.
	Sources []*Source
	// Sinks are the job's sink nodes (instances), in stage order.
	Sinks []*Node
	// DeadLetterTopic receives every record the job rejects.
	DeadLetterTopic string
	// Config is the configuration the plan was built from.
	Config *config.Config
	// Warnings are what the planner found odd but runnable (an operator
	// nothing reads), with keys and lines as problems have.
	Warnings []config.Problem
}

// StageKind says what feeds a stage's tasks.
type StageKind uint8

// The stage kinds.
const (
	// SourceStage: each task polls its share of one source's partitions.
	SourceStage StageKind = iota
	// KeyedStage: each task reads channels, one from every task of every
	// stage with a hash edge into it; its records arrive partitioned by
	// key group.
	KeyedStage
)

func (k StageKind) String() string {
	switch k {
	case SourceStage:
		return "source"
	case KeyedStage:
		return "keyed"
	}
	return fmt.Sprintf("StageKind(%d)", uint8(k))
}

// Stage is a component of the DAG over chain edges: Tasks tasks, each
// running every node of the stage in Nodes order, feeding each other
// directly.
type Stage struct {
	// Name is "source:<source>" for a source stage, else the name of its
	// first node; "source" and "keyed" in a legacy job. TaskID.Stage.
	Name string
	Kind StageKind
	// Tasks is the number of tasks (the job's parallelism).
	Tasks int
	// Sources holds a source stage's source (one); nil for a keyed
	// stage.
	Sources []*Source
	// Inputs are the hash edges into the stage (a keyed stage), in the
	// order of the stage's nodes and their inputs. Each is Tasks×Tasks
	// channels: task i of the sending stage to task j of this one.
	Inputs []*Edge
	// Outputs are the hash edges out of the stage.
	Outputs []*Edge
	// Nodes are the stage's nodes in topological order.
	Nodes []*Node
	// Stateful: a node of the stage keeps keyed state, so each task
	// opens a state backend shared by all of them (keys prefixed by node
	// name).
	Stateful bool
	// SinkBearing: the stage holds a sink, so each task owns a
	// transactional producer (its committer) shared by its sinks and its
	// dead letters.
	SinkBearing bool
}

// Source is one source of the job.
type Source struct {
	// Name is the source's name (what from: names; positions are
	// restored by it). "source" in a legacy job.
	Name string
	// Stage is the source's stage.
	Stage *Stage
	// Config is the source's entry (in a legacy job: source: translated).
	Config config.SourceConfig
	// Key and EventTime are the compiled expressions of Config.Key and
	// the event time; nil when absent (the Kafka key and timestamp).
	Key, EventTime *plugin.Expr
	// Outs are the edges from the source to the nodes reading it.
	Outs []*Edge
	// Mode is the changelog mode of the source's records: Append.
	Mode plugin.Mode
}

// NodeKind says what a node is.
type NodeKind uint8

// The node kinds.
const (
	// OperatorNode runs an operator.
	OperatorNode NodeKind = iota
	// SinkNode writes records to Kafka (package sink builds it).
	SinkNode
)

func (k NodeKind) String() string {
	switch k {
	case OperatorNode:
		return "operator"
	case SinkNode:
		return "sink"
	}
	return fmt.Sprintf("NodeKind(%d)", uint8(k))
}

// Node is one instance of an operator or a sink in a stage. A stateless
// node reading a union of several stages is instantiated once per such
// stage (design §3.1.3): each instance is a Node named "name@stage";
// stateful nodes have exactly one instance.
type Node struct {
	// Name is the instance's name: the operator's or sink's, or
	// "name@stage" for one of several instances. Logs, metrics and
	// in-flight records use it.
	Name string
	// Operator is the name in the configuration: the id of the node's
	// state, and what dead letters name (tidemark.operator).
	Operator string
	// Type is the operator type; "sink" for a sink ("kafka" for a legacy
	// job's).
	Type string
	Kind NodeKind
	// Stage is the stage the instance runs in.
	Stage *Stage
	// Config is the operator's parsed configuration; nil for sinks and
	// for the operators of a legacy job (built as before).
	Config *plugin.ParsedConfig
	// Sink is a sink's entry and its compiled expressions; nil for
	// operators. Legacy: the translated sink: entry.
	Sink      *config.SinkConfig
	SinkExprs *config.SinkExprs
	// Inputs is the number of input ports (len(from) of the operator:
	// records of input i reach it through operators.MultiInput when it
	// has more than one).
	Inputs int
	// Ins are the edges into the node, in input order (several per input
	// when the input is a union).
	Ins []*Edge
	// Ports names the node's outputs: "" (port 0, the main output), then
	// its side outputs (port i of operators.PortCollector).
	Ports []string
	// Outs are the edges out of the node, per port: Outs[p] for port p.
	Outs [][]*Edge
	// Stateful: the node keeps keyed state (its spec is Keyed).
	Stateful bool
	// PreservesKey: every record the node emits keeps its input's key.
	PreservesKey bool
	// InModes are the changelog modes of the node's inputs, Mode its
	// output's (§2.4).
	InModes []plugin.Mode
	Mode    plugin.Mode
	// Describe is the node's part of the topology description: the type
	// and the settings its state depends on; "" for a node left out of
	// it (stateless, deciding no key).
	Describe string

	new func(*plugin.Resources) (operators.Operator, error)
}

// New makes the node's operator for one task, with res (Name defaults to
// Operator, the state's id). Sink nodes have no constructor here: the
// runtime builds them from Sink with package sink; New returns an error
// for them.
func (n *Node) New(res *plugin.Resources) (operators.Operator, error) {
	if n.new == nil {
		return nil, fmt.Errorf("plan: node %s (%s) has no operator constructor: sinks are built by the runtime", n.Name, n.Type)
	}
	r := plugin.Resources{}
	if res != nil {
		r = *res
	}
	if r.Name == "" {
		r.Name = n.Operator
	}
	op, err := n.new(&r)
	if err != nil {
		return nil, fmt.Errorf("operator %s (%s), task %d: %w", n.Name, n.Type, r.Task, err)
	}
	return op, nil
}

// KeyExtractor returns the key of input i of a stateful node (its
// spec's Keyed field; the record key for none), nil for a stateless node
// or a legacy one (keyed by the record key as it arrives).
func (n *Node) KeyExtractor(i int) *plugin.Key {
	if !n.Stateful || n.Config == nil {
		return nil
	}
	return n.Config.Key(i)
}

// EdgeKind says how records cross an edge.
type EdgeKind uint8

// The edge kinds.
const (
	// Chain: the receiving node runs in the same task, called directly.
	Chain EdgeKind = iota
	// Hash: a key exchange; the sending task sets Record.Key (Edge.Key),
	// then sends each record to the task of the receiving stage that owns
	// its key group.
	Hash
)

func (k EdgeKind) String() string {
	switch k {
	case Chain:
		return "chain"
	case Hash:
		return "hash"
	}
	return fmt.Sprintf("EdgeKind(%d)", uint8(k))
}

// Edge carries the records of one output port (of a source or a node)
// to one input of a node. Unions are virtual: an edge never ends at one;
// each input of a union has its own edge to each of the union's readers.
type Edge struct {
	Kind EdgeKind
	// FromSource is the sending source, or nil; then From and Port are
	// the sending node and its output port.
	FromSource *Source
	From       *Node
	Port       int
	// To is the receiving node and Input its input (from 0).
	To    *Node
	Input int
	// Key, when not nil, is To's key for this input, evaluated before To
	// sees a record, and made its Record.Key: by the sending task on a
	// hash edge (then routed by key group), by the task on a chain edge.
	// Nil: the record's key already is To's key (a hash edge routes by it
	// as it is).
	Key *plugin.Key
	// Mode is the changelog mode of the records on the edge.
	Mode plugin.Mode
}

// FromName returns the name of the sending source or node.
func (e *Edge) FromName() string {
	if e.FromSource != nil {
		return e.FromSource.Name
	}
	return e.From.Name
}

// FromStage returns the stage of the sender.
func (e *Edge) FromStage() *Stage {
	if e.FromSource != nil {
		return e.FromSource.Stage
	}
	return e.From.Stage
}

// Stage returns the stage named name, or nil.
func (j *Job) Stage(name string) *Stage {
	for _, s := range j.Stages {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Node returns the node (instance) named name, or nil.
func (j *Job) Node(name string) *Node {
	for _, s := range j.Stages {
		for _, n := range s.Nodes {
			if n.Name == name {
				return n
			}
		}
	}
	return nil
}

// Topology returns the job's topology description (design §3.7), one line
// per element that state and positions map onto, and its fingerprint:
// the first 16 hex digits of the SHA-256 of the lines, each ended by a
// newline (as internal/job's Spec.Topology computes it). A checkpoint
// restores only into the same fingerprint.
func (j *Job) Topology() (fingerprint string, desc []string) {
	desc = j.Description()
	return Fingerprint(desc), desc
}

// Fingerprint hashes description lines.
func Fingerprint(desc []string) string {
	h := sha256.New()
	for _, l := range desc {
		fmt.Fprintln(h, l)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
