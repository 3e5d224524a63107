package plan

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/yamlutil"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// UnionType is the operator type the planner makes virtual (design
// §3.1.3): a union never runs as a node; each of its inputs is wired
// straight to its readers.
const UnionType = "union"

// Build plans the job of cfg (validated: config.Load or Parse) with the
// operator types of env. A configuration of the single-chain form is
// planned as before (see Job.Legacy). Every problem (an operator's own
// settings, an expression, an unknown input or port, a cycle, an unused
// source, a changelog mode a reader refuses) is reported at once in one
// *config.Error, each naming its key and line.
func Build(cfg *config.Config, env *plugin.Environment) (*Job, error) {
	if !cfg.IsGraph() {
		return buildLegacy(cfg)
	}
	b := &builder{cfg: cfg, env: env}
	return b.build()
}

// builder plans a graph-form configuration.
type builder struct {
	cfg  *config.Config
	env  *plugin.Environment
	ps   []config.Problem
	warn []config.Problem

	job *Job
	// logical nodes by name: sources, operators (unions included).
	lsources map[string]*lsource
	lops     map[string]*lop
	order    []*lop // operators in topological order
	sets     []int  // union-find over stage sets
	setOf    map[any]int
	created  []any // sources and nodes, in creation order
	inst     map[*lop][]*Node
	// broken are the names of operators whose entries have problems:
	// reading them is not another problem.
	broken map[string]bool
}

type lsource struct {
	idx  int
	src  *Source
	used bool
}

// lop is a logical operator or sink.
type lop struct {
	idx    int  // index in operators or sinks
	sink   bool // a sink
	name   string
	key    string // problem key: "operators[3] (counts)"
	line   int
	conf   *plugin.ParsedConfig
	ctor   plugin.OperatorConstructor
	from   []ref
	union  bool
	ports  []string
	in     []plugin.Mode
	mode   plugin.Mode
	read   bool // some operator or sink reads its main output
	sinkC  *config.SinkConfig
	sinkE  config.SinkExprs
	fromKs []string // problem keys of the from entries
	fromLs []int
}

// ref is one resolved from: entry.
type ref struct {
	src  *lsource
	op   *lop
	port int
}

func (b *builder) problem(key string, line int, format string, args ...any) {
	b.ps = append(b.ps, config.Problem{Key: key, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (b *builder) err() error {
	if len(b.ps) == 0 {
		return nil
	}
	slices.SortStableFunc(b.ps, func(a, c config.Problem) int {
		la, lc := a.Line, c.Line
		if la == 0 {
			la = 1 << 30
		}
		if lc == 0 {
			lc = 1 << 30
		}
		return la - lc
	})
	return &config.Error{Problems: b.ps}
}

func (b *builder) build() (*Job, error) {
	cfg := b.cfg
	b.job = &Job{Name: cfg.Job.Name, MaxParallelism: cfg.Job.MaxParallelism, Parallelism: cfg.Job.Parallelism,
		DeadLetterTopic: cfg.DeadLetterTopic(), Config: cfg}
	confs, err := cfg.ParseOperators(b.env)
	var ce *config.Error
	if errors.As(err, &ce) {
		b.ps = append(b.ps, ce.Problems...)
	} else if err != nil {
		return nil, err
	}
	b.broken = map[string]bool{}
	for i, conf := range confs {
		if conf == nil {
			b.broken[config.NodeName(&cfg.Operators[i])] = true
		}
	}
	b.logical(confs)
	if len(b.ps) > 0 {
		return nil, b.err()
	}
	b.topo()
	if len(b.ps) > 0 {
		return nil, b.err()
	}
	b.modes()
	if len(b.ps) > 0 {
		return nil, b.err()
	}
	b.physical()
	if len(b.ps) > 0 {
		return nil, b.err()
	}
	b.job.Warnings = b.warn
	return b.job, nil
}

// logical resolves every name and from: entry.
func (b *builder) logical(confs []*plugin.ParsedConfig) {
	cfg := b.cfg
	b.lsources = map[string]*lsource{}
	b.lops = map[string]*lop{}
	for i := range cfg.Sources {
		sc := cfg.Sources[i]
		ex, ps := cfg.CompileSource(i)
		b.ps = append(b.ps, ps...)
		src := &Source{Name: sc.Name, Config: sc, Key: ex.Key, EventTime: ex.EventTime, Mode: plugin.Append}
		b.lsources[sc.Name] = &lsource{idx: i, src: src}
		b.job.Sources = append(b.job.Sources, src)
	}
	var ops []*lop
	for i, conf := range confs {
		if conf == nil {
			continue
		}
		_, ctor, _ := b.env.Lookup(conf.Type())
		op := &lop{idx: i, name: conf.Name(), key: cfg.OperatorKey(i), line: cfg.Operators[i].Line, conf: conf, ctor: ctor,
			union: conf.Type() == UnionType, ports: append([]string{""}, conf.OutputPorts()...)}
		node := &cfg.Operators[i]
		for j, f := range conf.From() {
			k, l := fromPos(node, op.key, j, len(conf.From()))
			op.fromKs, op.fromLs = append(op.fromKs, k), append(op.fromLs, l)
			_ = f
		}
		b.lops[op.name] = op
		ops = append(ops, op)
		if !op.union && !conf.Keyed() && len(conf.From()) > 1 {
			b.problem(op.key+".from", op.fromLs[0], "operator type %q is not keyed, so it takes one input, got %d: merge streams with a union first", conf.Type(), len(conf.From()))
		}
	}
	for i := range cfg.Sinks {
		sc := &cfg.Sinks[i]
		ex, ps := cfg.CompileSink(i)
		b.ps = append(b.ps, ps...)
		key := cfg.SinkKey(i)
		op := &lop{idx: i, sink: true, name: sc.Name, key: key, line: cfg.Line(fmt.Sprintf("sinks[%d]", i)), sinkC: sc, sinkE: ex,
			fromKs: []string{key + ".from"}, fromLs: []int{cfg.Line(fmt.Sprintf("sinks[%d].from", i))}, ports: []string{""}}
		ops = append(ops, op)
	}
	for _, op := range ops {
		var from []string
		if op.sink {
			from = []string{op.sinkC.From}
		} else {
			from = op.conf.From()
		}
		for j, f := range from {
			r, ok := b.resolve(op, f, op.fromKs[j], op.fromLs[j])
			if ok {
				op.from = append(op.from, r)
			}
		}
	}
	// Every op, sinks last, in configuration order.
	b.order = ops
	for _, ls := range b.sortedSources() {
		if !ls.used && len(b.broken) == 0 {
			k := b.cfg.SourceKey(ls.idx)
			b.problem(k, b.cfg.Line(fmt.Sprintf("sources[%d]", ls.idx)), "no operator or sink reads source %q: remove it or read it (from: %s)", ls.src.Name, ls.src.Name)
		}
	}
}

func (b *builder) sortedSources() []*lsource {
	out := make([]*lsource, len(b.cfg.Sources))
	for _, ls := range b.lsources {
		out[ls.idx] = ls
	}
	return slices.DeleteFunc(out, func(l *lsource) bool { return l == nil })
}

// fromPos returns the problem key and line of from entry j of an
// operator entry.
func fromPos(node *yaml.Node, key string, j, n int) (string, int) {
	for node != nil && node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	if node == nil || node.Kind != yaml.MappingNode {
		return key + ".from", 0
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value != "from" {
			continue
		}
		v := node.Content[i+1]
		if v.Kind == yaml.SequenceNode && j < len(v.Content) {
			return fmt.Sprintf("%s.from[%d]", key, j), v.Content[j].Line
		}
		return key + ".from", v.Line
	}
	return key + ".from", node.Line
}

// resolve finds the input name f ("name" or "op.port") of op.
func (b *builder) resolve(op *lop, f, key string, line int) (ref, bool) {
	name, port, hasPort := strings.Cut(f, ".")
	if ls, ok := b.lsources[name]; ok {
		if hasPort {
			b.problem(key, line, "source %q has no side outputs: read it as %q", name, name)
			return ref{}, false
		}
		ls.used = true
		return ref{src: ls}, true
	}
	in, ok := b.lops[name]
	if !ok && b.broken[name] {
		return ref{}, false
	}
	if !ok {
		names := make([]string, 0, len(b.lsources)+len(b.lops))
		for n := range b.lsources {
			names = append(names, n)
		}
		for n := range b.lops {
			names = append(names, n)
		}
		msg := fmt.Sprintf("no source or operator is named %q", name)
		if s := yamlutil.Suggest(name, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		for i := range b.cfg.Sinks {
			if b.cfg.Sinks[i].Name == name {
				msg = fmt.Sprintf("%q is a sink: nothing can read a sink", name)
			}
		}
		b.problem(key, line, "%s", msg)
		return ref{}, false
	}
	if in == op {
		b.problem(key, line, "operator %q reads itself: a cycle", name)
		return ref{}, false
	}
	p := 0
	if hasPort {
		var ok bool
		p, ok = in.conf.Port(port)
		if !ok || port == "" {
			side := in.conf.OutputPorts()
			msg := fmt.Sprintf("operator %q (%s) has no side output %q", name, in.conf.Type(), port)
			if len(side) == 0 {
				msg += ": it has only its main output, read as " + strconvQuote(name)
			} else {
				msg += ": it has " + yamlutil.QuoteList(side...)
				if s := yamlutil.Suggest(port, side); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", name+"."+s)
				}
			}
			b.problem(key, line, "%s", msg)
			return ref{}, false
		}
	}
	if p == 0 {
		in.read = true
	}
	return ref{op: in, port: p}, true
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// topo orders the operators and sinks topologically (configuration
// order among the ready ones) and reports cycles.
func (b *builder) topo() {
	indeg := map[*lop]int{}
	readers := map[*lop][]*lop{}
	for _, op := range b.order {
		for _, r := range op.from {
			if r.op != nil {
				indeg[op]++
				readers[r.op] = append(readers[r.op], op)
			}
		}
	}
	var out []*lop
	done := map[*lop]bool{}
	for len(out) < len(b.order) {
		progress := false
		for _, op := range b.order {
			if done[op] || indeg[op] > 0 {
				continue
			}
			done[op] = true
			out = append(out, op)
			for _, r := range readers[op] {
				indeg[r]--
			}
			progress = true
			break // restart: keep configuration order among ready ones
		}
		if !progress {
			// Peel off what only reads the cycle: what is left is on it
			// (or between two cycles).
			left := map[*lop]bool{}
			for _, op := range b.order {
				left[op] = !done[op]
			}
			for peeled := true; peeled; {
				peeled = false
				for _, op := range b.order {
					if !left[op] || slices.ContainsFunc(readers[op], func(r *lop) bool { return left[r] }) {
						continue
					}
					left[op], peeled = false, true
				}
			}
			var names []string
			var first *lop
			for _, op := range b.order {
				if left[op] {
					names = append(names, op.name)
					if first == nil {
						first = op
					}
				}
			}
			b.problem(first.fromKs[0], first.fromLs[0], "the operators %s read each other in a cycle: a job graph must be acyclic", strings.Join(names, ", "))
			return
		}
	}
	b.order = out
	for _, op := range b.order {
		if !op.sink && !op.read && len(b.ps) == 0 {
			b.warn = append(b.warn, config.Problem{Key: op.key, Line: op.line,
				Msg: fmt.Sprintf("nothing reads the output of operator %q: its records are dropped", op.name)})
		}
	}
}

// modes derives every output's changelog mode and checks the readers'.
func (b *builder) modes() {
	for _, op := range b.order {
		op.in = make([]plugin.Mode, len(op.from))
		for i, r := range op.from {
			op.in[i] = b.refMode(r)
		}
		switch {
		case op.sink:
			if op.sinkC.Mode == config.ModeAppend && op.in[0] == plugin.Updating {
				b.problem(op.key+".mode", b.cfg.Line(fmt.Sprintf("sinks[%d].mode", op.idx)),
					"%s emits updates (update-before, update-after, delete): set mode: upsert, so that the Kafka key is the record key and a delete a tombstone", describeRef(op.from[0]))
			}
		case op.union:
			op.mode = plugin.Append
			if slices.Contains(op.in, plugin.Updating) {
				op.mode = plugin.Updating
			}
		default:
			m, err := op.conf.OutputMode(op.in)
			if err != nil {
				b.problem(op.key, op.line, "%v", err)
			}
			op.mode = m
		}
	}
}

func describeRef(r ref) string {
	if r.src != nil {
		return fmt.Sprintf("source %s", r.src.src.Name)
	}
	return fmt.Sprintf("operator %s", r.op.name)
}

// refMode is the mode of the records an input reference delivers: a
// side output's is its operator's inputs' (updating if any is).
func (b *builder) refMode(r ref) plugin.Mode {
	switch {
	case r.src != nil:
		return plugin.Append
	case r.port == 0:
		return r.op.mode
	case slices.Contains(r.op.in, plugin.Updating):
		return plugin.Updating
	}
	return plugin.Append
}

// producer is one sending end of a physical edge.
type producer struct {
	src  *Source
	node *Node
	port int
}

func (p producer) partitioned(part map[*Node]bool) bool { return p.node != nil && part[p.node] }

// expand returns the physical producers of a reference: a union's are
// those of its inputs; an operator's are all of its instances.
func (b *builder) expand(r ref) []producer {
	switch {
	case r.src != nil:
		return []producer{{src: r.src.src}}
	case r.op.union:
		var out []producer
		for _, in := range r.op.from {
			out = append(out, b.expand(in)...)
		}
		return out
	}
	var out []producer
	for _, n := range b.inst[r.op] {
		out = append(out, producer{node: n, port: r.port})
	}
	return out
}

func (b *builder) newSet(owner any) int {
	id := len(b.sets)
	b.sets = append(b.sets, id)
	b.setOf[owner] = id
	b.created = append(b.created, owner)
	return id
}

func (b *builder) find(i int) int {
	for b.sets[i] != i {
		b.sets[i] = b.sets[b.sets[i]]
		i = b.sets[i]
	}
	return i
}

func (b *builder) merge(i, j int) {
	i, j = b.find(i), b.find(j)
	if i == j {
		return
	}
	if j < i {
		i, j = j, i
	}
	b.sets[j] = i // the older set's id stays the root
}

func (b *builder) setOfProducer(p producer) int {
	if p.src != nil {
		return b.find(b.setOf[p.src])
	}
	return b.find(b.setOf[p.node])
}

// physical instantiates nodes, decides edge kinds and forms stages.
func (b *builder) physical() {
	b.setOf = map[any]int{}
	b.inst = map[*lop][]*Node{}
	for _, s := range b.job.Sources {
		b.newSet(s)
	}
	part := map[*Node]bool{} // the instance's records sit in the task owning their key's key group
	var edges []*Edge
	for _, op := range b.order {
		if op.union {
			continue
		}
		type input struct {
			p  producer
			in int
		}
		var ins []input
		for i, r := range op.from {
			for _, p := range b.expand(r) {
				ins = append(ins, input{p, i})
			}
		}
		stateful := !op.sink && op.conf.Keyed()
		if stateful {
			n := b.newNode(op)
			id := b.newSet(n)
			chain := make([]bool, len(ins))
			var chained, hashed []int // the producers' sets
			for i, in := range ins {
				key := op.conf.Key(in.in)
				chain[i] = key.IsRecordKey() && in.p.partitioned(part)
				if chain[i] {
					chained = append(chained, b.setOfProducer(in.p))
				} else {
					hashed = append(hashed, b.setOfProducer(in.p))
				}
			}
			// Chaining into the producers' stages must not make a stage
			// send to itself through a key exchange, directly or through
			// other stages (its barriers would wait for themselves): then
			// every input goes through an exchange.
			if len(chained) > 0 && b.reaches(edges, chained, hashed) {
				clear(chain)
			}
			for i, in := range ins {
				key := op.conf.Key(in.in)
				e := &Edge{To: n, Input: in.in, Mode: op.in[in.in]}
				b.from(e, in.p)
				switch {
				case chain[i]:
					e.Kind = Chain
					b.merge(id, b.setOfProducer(in.p))
				case key.IsRecordKey():
					e.Kind = Hash
				default:
					e.Kind, e.Key = Hash, key
				}
				edges = append(edges, e)
			}
			part[n] = n.PreservesKey
			b.inst[op] = []*Node{n}
			continue
		}
		// Stateless or a sink: one instance per stage it reads from.
		byRoot := map[int]*Node{}
		for _, in := range ins {
			root := b.setOfProducer(in.p)
			n, ok := byRoot[root]
			if !ok {
				n = b.newNode(op)
				b.setOf[n] = root
				b.created = append(b.created, n)
				byRoot[root] = n
				b.inst[op] = append(b.inst[op], n)
				part[n] = true
			}
			e := &Edge{Kind: Chain, To: n, Input: in.in, Mode: op.in[in.in]}
			b.from(e, in.p)
			edges = append(edges, e)
			part[n] = part[n] && in.p.partitioned(part)
		}
		for _, n := range b.inst[op] {
			part[n] = part[n] && n.PreservesKey
		}
	}
	b.stages(edges)
}

// reaches reports whether a set of to is one of from or is reachable from
// one of them through the hash edges planned so far.
func (b *builder) reaches(edges []*Edge, from, to []int) bool {
	next := map[int][]int{}
	for _, e := range edges {
		if e.Kind != Hash {
			continue
		}
		var f int
		if e.FromSource != nil {
			f = b.find(b.setOf[e.FromSource])
		} else {
			f = b.find(b.setOf[e.From])
		}
		next[f] = append(next[f], b.find(b.setOf[e.To]))
	}
	target := map[int]bool{}
	for _, t := range to {
		target[b.find(t)] = true
	}
	seen := map[int]bool{}
	queue := slices.Clone(from)
	for len(queue) > 0 {
		s := b.find(queue[0])
		queue = queue[1:]
		if seen[s] {
			continue
		}
		seen[s] = true
		if target[s] {
			return true
		}
		queue = append(queue, next[s]...)
	}
	return false
}

// from sets the sending end of e and adds e to it.
func (b *builder) from(e *Edge, p producer) {
	e.To.Ins = append(e.To.Ins, e)
	if p.src != nil {
		e.FromSource = p.src
		p.src.Outs = append(p.src.Outs, e)
		return
	}
	e.From, e.Port = p.node, p.port
	p.node.Outs[p.port] = append(p.node.Outs[p.port], e)
}

// newNode makes an instance of op (named after the stage is known).
func (b *builder) newNode(op *lop) *Node {
	n := &Node{Name: op.name, Operator: op.name, Inputs: len(op.from), InModes: op.in, Mode: op.mode,
		Ports: op.ports, Outs: make([][]*Edge, len(op.ports))}
	if op.sink {
		n.Kind, n.Type = SinkNode, "sink"
		n.Sink, n.SinkExprs = op.sinkC, &op.sinkE
		return n
	}
	conf, ctor := op.conf, op.ctor
	n.Kind, n.Type, n.Config = OperatorNode, conf.Type(), conf
	n.Stateful, n.PreservesKey = conf.Keyed(), conf.PreservesKey()
	if conf.Fingerprinted() {
		n.Describe = conf.Describe()
	}
	n.new = func(res *plugin.Resources) (operators.Operator, error) { return ctor(conf, res) }
	return n
}

// stages groups the nodes into stages, names them and orders them.
func (b *builder) stages(edges []*Edge) {
	byRoot := map[int]*Stage{}
	var stages []*Stage
	for _, owner := range b.created {
		root := b.find(b.setOf[owner])
		st, ok := byRoot[root]
		if !ok {
			st = &Stage{Kind: KeyedStage, Tasks: b.job.Parallelism}
			byRoot[root] = st
			stages = append(stages, st)
		}
		switch x := owner.(type) {
		case *Source:
			st.Kind, st.Name = SourceStage, "source:"+x.Name
			st.Sources = append(st.Sources, x)
			x.Stage = st
		case *Node:
			if st.Name == "" {
				st.Name = x.Operator
			}
			st.Nodes = append(st.Nodes, x)
			x.Stage = st
			st.Stateful = st.Stateful || x.Stateful
			st.SinkBearing = st.SinkBearing || x.Kind == SinkNode
		}
	}
	for _, e := range edges {
		if e.Kind == Hash {
			e.To.Stage.Inputs = append(e.To.Stage.Inputs, e)
			e.FromStage().Outputs = append(e.FromStage().Outputs, e)
		}
	}
	// Inputs in the order of the stage's nodes and their inputs.
	for _, st := range stages {
		idx := map[*Node]int{}
		for i, n := range st.Nodes {
			idx[n] = i
		}
		slices.SortStableFunc(st.Inputs, func(a, c *Edge) int {
			if d := idx[a.To] - idx[c.To]; d != 0 {
				return d
			}
			return a.Input - c.Input
		})
		if st.Kind == SourceStage && (len(st.Sources) != 1 || len(st.Inputs) > 0) {
			b.problem("", 0, "internal: stage %s holds %d sources and %d channel inputs", st.Name, len(st.Sources), len(st.Inputs))
		}
	}
	// Instance names: name@stage for an operator with several.
	for op, ns := range b.inst {
		if len(ns) < 2 {
			continue
		}
		seen := map[string]int{}
		for _, n := range ns {
			n.Name = op.name + "@" + n.Stage.Name
			if seen[n.Name]++; seen[n.Name] > 1 {
				n.Name += fmt.Sprintf("-%d", seen[n.Name])
			}
		}
	}
	// Stage order: source stages, then the others topologically by hash
	// edges (creation order among the ready ones).
	indeg := map[*Stage]int{}
	next := map[*Stage][]*Stage{}
	for _, st := range stages {
		for _, e := range st.Inputs {
			from := e.FromStage()
			if from == st {
				b.problem(b.opKey(e.To), 0, "operators %s and %s would run in one stage with a key exchange between them: a cycle of stages the planner cannot run; key %s's input differently",
					e.FromName(), e.To.Name, e.To.Name)
				return
			}
			indeg[st]++
			next[from] = append(next[from], st)
		}
	}
	var ordered []*Stage
	done := map[*Stage]bool{}
	for len(ordered) < len(stages) {
		var pick *Stage
		for _, st := range stages {
			if !done[st] && indeg[st] == 0 {
				pick = st
				break
			}
		}
		if pick == nil {
			b.problem("operators", 0, "the stages of the plan form a cycle of key exchanges: key the inputs of the operators that read several stages differently")
			return
		}
		done[pick] = true
		ordered = append(ordered, pick)
		for _, n := range next[pick] {
			indeg[n]--
		}
	}
	b.job.Stages = ordered
	for _, st := range ordered {
		for _, n := range st.Nodes {
			if n.Kind == SinkNode {
				b.job.Sinks = append(b.job.Sinks, n)
			}
		}
	}
}

func (b *builder) opKey(n *Node) string {
	if op, ok := b.lops[n.Operator]; ok {
		return op.key
	}
	return n.Operator
}
