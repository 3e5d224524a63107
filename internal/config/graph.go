package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/internal/yamlutil"
	"github.com/tidemark/tidemark/plugin"
)

// The job graph form of a configuration (design §1): named sources, a DAG
// of named operators each reading its inputs with from:, named sinks, a
// job-level output block shared by the sinks and a dead-letter topic. The
// single-chain form of before (source, pipeline, sink) still loads: see
// legacy.go.

// Source formats (sources[].format).
const (
	FormatJSON = "json"
	FormatRaw  = "raw"
)

// Event-time formats (sources[].event_time.format).
const (
	TimeAuto        = "auto"
	TimeRFC3339     = "rfc3339"
	TimeSQL         = "sql"
	TimeEpochMillis = "epoch_millis"
)

// Sink modes (sinks[].mode).
const (
	ModeAppend = "append"
	ModeUpsert = "upsert"
)

// StopAtEnd is sources[].stop_at for a bounded run.
const StopAtEnd = "end"

// SourceConfig is one entry of sources: a Kafka input of the job graph.
type SourceConfig struct {
	// Name is unique among sources, operators and sinks; what from: names.
	// Part of the topology: positions are restored by it.
	Name string `yaml:"name"`
	// Topics to read; exactly one of Topics and TopicRegex is required.
	Topics []string `yaml:"topics"`
	// TopicRegex reads every topic whose whole name matches (RE2).
	TopicRegex string `yaml:"topic_regex"`
	// Format is "json" (values decoded once, at the source) or "raw" (the
	// value is its bytes, as a string). Default "json".
	Format string `yaml:"format"`
	// Key is an expression giving the record key; "" keeps the Kafka
	// key.
	Key string `yaml:"key"`
	// EventTime says where the event time comes from.
	EventTime SourceEventTime `yaml:"event_time"`
	// Watermark configures the source's event-time watermarks.
	Watermark Watermark `yaml:"watermark"`
	// StartOffset, Group and DiscoveryInterval are those of the
	// single-chain source (Source), per source.
	StartOffset       string        `yaml:"start_offset"`
	Group             string        `yaml:"group"`
	DiscoveryInterval time.Duration `yaml:"discovery_interval"`
	// StopAt is "" (run until stopped) or "end": read up to the end
	// offsets found at start, then end the run (design §1.2).
	StopAt string `yaml:"stop_at"`
}

// SourceEventTime says where a graph source record's event time comes
// from: the Kafka timestamp by default, else Field (shorthand for Expr
// value.<field>) or Expr, read as Format says.
type SourceEventTime struct {
	// Field is a top-level field of the JSON value.
	Field string `yaml:"field"`
	// Expr is an expression giving the event time.
	Expr string `yaml:"expr"`
	// Format says how a string result is read: "auto" (RFC 3339, else
	// SQL), "rfc3339", "sql" or "epoch_millis". Numbers are epoch ms.
	// Default "auto".
	Format string `yaml:"format"`
}

// DefaultSourceConfig returns a source entry with its defaults.
func DefaultSourceConfig() SourceConfig {
	return SourceConfig{Format: FormatJSON, StartOffset: StartEarliest, DiscoveryInterval: 30 * time.Second,
		EventTime: SourceEventTime{Format: TimeAuto}}
}

// UnmarshalYAML decodes an entry over its defaults.
func (s *SourceConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain SourceConfig
	p := plain(DefaultSourceConfig())
	if err := n.Decode(&p); err != nil {
		return err
	}
	*s = SourceConfig(p)
	return nil
}

// EventTimeExpr returns the event-time expression's text: Expr, or
// value.<Field>, or "" for the Kafka timestamp.
func (s *SourceConfig) EventTimeExpr() string {
	switch {
	case s.EventTime.Expr != "":
		return s.EventTime.Expr
	case s.EventTime.Field != "":
		return "value." + s.EventTime.Field
	}
	return ""
}

// StartTime is the time of a start_offset that is a timestamp (zero for
// earliest and latest).
func (s *SourceConfig) StartTime() (time.Time, error) { return parseStartOffset(s.StartOffset) }

// ConsumerGroup is the source's group or the job's default group.
func (s *SourceConfig) ConsumerGroup(job string) string {
	if s.Group != "" {
		return s.Group
	}
	return "tidemark-" + job
}

// SinkConfig is one entry of sinks: a Kafka output of the job graph.
type SinkConfig struct {
	// Name is unique among sources, operators and sinks.
	Name string `yaml:"name"`
	// From names the sink's one input.
	From string `yaml:"from"`
	// Topic is the fixed topic; TopicExpr an expression choosing it per
	// record. Exactly one is required.
	Topic     string `yaml:"topic"`
	TopicExpr string `yaml:"topic_expr"`
	// Key, Value and Timestamp are expressions for the Kafka record's
	// key, value and timestamp. Defaults "key", "value", "timestamp".
	Key       string `yaml:"key"`
	Value     string `yaml:"value"`
	Timestamp string `yaml:"timestamp"`
	// Headers maps header names to expressions; given, it replaces the
	// input's headers.
	Headers map[string]string `yaml:"headers"`
	// Format is "json" or "raw". Default "json".
	Format string `yaml:"format"`
	// Mode is "append" (every record a Kafka record; refuses an updating
	// input) or "upsert" (key = the record key; deletes are tombstones).
	// Default "append".
	Mode string `yaml:"mode"`
}

// DefaultSinkConfig returns a sink entry with its defaults.
func DefaultSinkConfig() SinkConfig {
	return SinkConfig{Key: "key", Value: "value", Timestamp: "timestamp", Format: FormatJSON, Mode: ModeAppend}
}

// UnmarshalYAML decodes an entry over its defaults.
func (s *SinkConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain SinkConfig
	p := plain(DefaultSinkConfig())
	if err := n.Decode(&p); err != nil {
		return err
	}
	*s = SinkConfig(p)
	return nil
}

// Output holds the settings every sink of the job shares: one
// transactional producer per sink-bearing task writes all of them (and the
// dead letters). In the single-chain form they are sink.delivery,
// sink.transactional_id_prefix, sink.transaction_timeout and
// sink.on_rejected; Parse copies them here, so that Output holds the
// effective values in both forms.
type Output struct {
	// Delivery is "exactly_once" or "at_least_once". Default
	// "exactly_once".
	Delivery string `yaml:"delivery"`
	// TransactionalIDPrefix prefixes every transactional id. Default
	// "tidemark-<job.name>".
	TransactionalIDPrefix string `yaml:"transactional_id_prefix"`
	// TransactionTimeout is the producers' transaction.timeout.ms.
	// Default 15m.
	TransactionTimeout time.Duration `yaml:"transaction_timeout"`
	// OnRejected is "dead_letter" or "fail" (see Sink.OnRejected).
	// Default "dead_letter".
	OnRejected string `yaml:"on_rejected"`
}

// DeadLetter configures the dead-letter topic of a graph job.
type DeadLetter struct {
	// Topic receives every record the job rejects. Default "<first
	// sink's topic>-dead-letters".
	Topic string `yaml:"topic"`
}

// IsGraph reports whether the configuration uses the job graph form
// (sources, operators, sinks) rather than the single chain.
func (c *Config) IsGraph() bool {
	return len(c.Sources) > 0 || len(c.Operators) > 0 || len(c.Sinks) > 0
}

// hasLegacy reports whether a single-chain key (source, pipeline, sink)
// is set.
func (c *Config) hasLegacy() bool {
	return len(c.Source.Topics) > 0 || c.Source.TopicRegex != "" || len(c.Pipeline.Operators) > 0 || c.Sink.Topic != ""
}

var graphName = regexp.MustCompile(`^[a-z0-9_-]+$`)

// SourceKey names sources[i] as a problem's key: "sources[0] (events)".
func (c *Config) SourceKey(i int) string { return entryKey("sources", i, c.Sources[i].Name) }

// SinkKey names sinks[i] as a problem's key.
func (c *Config) SinkKey(i int) string { return entryKey("sinks", i, c.Sinks[i].Name) }

// OperatorKey names operators[i] as a problem's key: "operators[3]
// (counts)", or "operators[3]" when it has no name.
func (c *Config) OperatorKey(i int) string {
	return entryKey("operators", i, NodeName(&c.Operators[i]))
}

func entryKey(list string, i int, name string) string {
	if name == "" {
		return fmt.Sprintf("%s[%d]", list, i)
	}
	return fmt.Sprintf("%s[%d] (%s)", list, i, name)
}

// NodeName returns the name key of an operator entry, "" if absent.
func NodeName(n *yaml.Node) string {
	n = resolveNode(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

func resolveNode(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// Line returns the line of a configuration key ("sources[0].topics")
// or of its nearest parent found in the file; 0 when the configuration
// did not come from a file.
func (c *Config) Line(key string) int { return lineOf(c.lines, key) }

// validateGraph checks the graph form's own sections (every key that
// needs no operator spec: sources, sinks, output, dead_letter). Operators
// are parsed with their specs by ParseOperators, and the graph's wiring
// (from:, ports, cycles, changelog modes) is checked by the planner.
func (c *Config) validateGraph(ps *problems) {
	if c.hasLegacy() {
		key := "sink"
		switch {
		case len(c.Source.Topics) > 0 || c.Source.TopicRegex != "":
			key = "source"
		case len(c.Pipeline.Operators) > 0:
			key = "pipeline"
		}
		ps.add(key, 0, "the configuration mixes the job graph form (sources, operators, sinks) with the single-chain form (source, pipeline, sink): "+
			"use one; `processor migrate --config FILE` prints the single chain as a graph")
	}
	if len(c.Sources) == 0 {
		ps.add("sources", 0, "at least one source is required")
	}
	if len(c.Sinks) == 0 {
		ps.add("sinks", 0, "at least one sink is required")
	}
	names := map[string]string{} // name → key of the entry that has it
	claim := func(key, name string) {
		switch {
		case name == "":
			ps.add(key+".name", 0, "is required")
		case !graphName.MatchString(name):
			ps.add(key+".name", 0, "must be lowercase letters, digits, '_' and '-', got %q", name)
		default:
			if first, dup := names[name]; dup {
				ps.add(key+".name", 0, "%q is already the name of %s: names are unique among sources, operators and sinks", name, first)
				return
			}
			names[name] = key
		}
	}
	sourceTopics := map[string]string{}
	for i := range c.Sources {
		s := &c.Sources[i]
		key := c.SourceKey(i)
		claim(key, s.Name)
		c.validateSourceConfig(ps, s, key)
		for j, t := range s.Topics {
			sourceTopics[t] = fmt.Sprintf("%s.topics[%d]", key, j)
		}
	}
	for i := range c.Operators {
		if name := NodeName(&c.Operators[i]); name != "" {
			claim(c.OperatorKey(i), name)
		}
	}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		key := c.SinkKey(i)
		claim(key, s.Name)
		switch {
		case s.Topic == "" && s.TopicExpr == "":
			ps.add(key+".topic", 0, "one of topic and topic_expr is required")
		case s.Topic != "" && s.TopicExpr != "":
			ps.add(key+".topic_expr", 0, "give topic or topic_expr, not both")
		case s.Topic != "":
			if msg := topicProblem(s.Topic); msg != "" {
				ps.add(key+".topic", 0, "%s", msg)
			} else if k, ok := sourceTopics[s.Topic]; ok {
				ps.add(key+".topic", 0, "%q is also %s: the job would read its own output", s.Topic, k)
			}
		}
		if s.From == "" {
			ps.add(key+".from", 0, "is required: the name of the source, operator or side output (op.port) the sink writes")
		}
		for _, f := range []struct{ name, val string }{{"key", s.Key}, {"value", s.Value}, {"timestamp", s.Timestamp}} {
			if strings.TrimSpace(f.val) == "" {
				ps.add(key+"."+f.name, 0, "must be an expression (default %q)", f.name)
			}
		}
		checkEnum(ps, key+".format", s.Format, FormatJSON, FormatRaw)
		checkEnum(ps, key+".mode", s.Mode, ModeAppend, ModeUpsert)
	}
	dl := c.DeadLetterTopic()
	switch {
	case c.DeadLetter.Topic == "" && len(c.Sinks) > 0 && c.Sinks[0].Topic == "":
		ps.add("dead_letter.topic", c.Line("sinks[0].topic_expr"), "is required when the first sink chooses its topic by expression (its default is <first sink's topic>-dead-letters)")
	case dl != "":
		if msg := topicProblem(dl); msg != "" {
			ps.add("dead_letter.topic", 0, "%s", msg)
		} else if k, ok := sourceTopics[dl]; ok {
			ps.add("dead_letter.topic", 0, "%q is also %s", dl, k)
		}
		for i, s := range c.Sinks {
			if s.Topic == dl {
				ps.add("dead_letter.topic", 0, "%q is also the topic of %s", dl, c.SinkKey(i))
			}
		}
	}
}

func (c *Config) validateSourceConfig(ps *problems, s *SourceConfig, key string) {
	switch {
	case len(s.Topics) == 0 && s.TopicRegex == "":
		ps.add(key+".topics", 0, "one of topics and topic_regex is required")
	case len(s.Topics) > 0 && s.TopicRegex != "":
		ps.add(key+".topic_regex", 0, "give topics or topic_regex, not both")
	}
	for i, t := range s.Topics {
		if msg := topicProblem(t); msg != "" {
			ps.add(fmt.Sprintf("%s.topics[%d]", key, i), 0, "%s", msg)
		}
	}
	if s.TopicRegex != "" {
		if _, err := regexp.Compile(s.TopicRegex); err != nil {
			ps.add(key+".topic_regex", 0, "is not a valid regular expression: %v", err)
		}
		if c.Kafka.Embedded {
			ps.add(key+".topic_regex", 0, "the embedded quickstart needs topics to know which topics to seed")
		}
	}
	checkEnum(ps, key+".format", s.Format, FormatJSON, FormatRaw)
	if _, err := parseStartOffset(s.StartOffset); err != nil {
		ps.add(key+".start_offset", 0, "%v", err)
	}
	switch d := s.DiscoveryInterval; {
	case d < 0:
		ps.add(key+".discovery_interval", 0, "must not be negative, got %s", d)
	case d > 0 && d < MinDiscoveryInterval:
		ps.add(key+".discovery_interval", 0, "must be 0 (no discovery) or at least %s, got %s", MinDiscoveryInterval, d)
	}
	et := s.EventTime
	if et.Field != "" && et.Expr != "" {
		ps.add(key+".event_time.expr", 0, "give field or expr, not both (field: f is expr: value.f)")
	}
	if f := et.Field; f != "" && strings.TrimSpace(f) != f {
		ps.add(key+".event_time.field", 0, "must not start or end with whitespace, got %q", f)
	}
	checkEnum(ps, key+".event_time.format", et.Format, TimeAuto, TimeRFC3339, TimeSQL, TimeEpochMillis)
	switch d := s.Watermark.MaxOutOfOrderness; {
	case d < 0:
		ps.add(key+".watermark.max_out_of_orderness", 0, "must not be negative, got %s", d)
	case d%time.Millisecond != 0:
		ps.add(key+".watermark.max_out_of_orderness", 0, "must be a whole number of milliseconds, got %s", d)
	}
	if d := s.Watermark.IdleTimeout; d < 0 {
		ps.add(key+".watermark.idle_timeout", 0, "must not be negative, got %s", d)
	}
	if s.StopAt != "" {
		checkEnum(ps, key+".stop_at", s.StopAt, StopAtEnd)
	}
}

func checkEnum(ps *problems, key, val string, options ...string) {
	if slices.Contains(options, val) {
		return
	}
	msg := fmt.Sprintf("must be one of %s, got %q", quoteList(options...), val)
	if s := yamlutil.Suggest(val, options); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	ps.add(key, 0, "%s", msg)
}

// ParseOperators parses every entry of operators with the spec of its
// type in env (plugin.Environment.Parse): unknown keys, values of the
// wrong type, missing required fields and expressions that do not compile
// are problems naming the operator ("operators[3] (counts).window.size")
// and the line (and an expression's column). It returns the parsed
// configs in order, and with problems an *Error listing every one of
// them; the configs are then nil for the entries that have problems.
func (c *Config) ParseOperators(env *plugin.Environment) ([]*plugin.ParsedConfig, error) {
	var ps problems
	out := make([]*plugin.ParsedConfig, len(c.Operators))
	for i := range c.Operators {
		conf, pps := env.Parse(&c.Operators[i], c.OperatorKey(i))
		for _, p := range pps {
			ps.list = append(ps.list, Problem(p))
		}
		if conf != nil && conf.Name() == "" {
			ps.add(c.OperatorKey(i)+".name", c.Operators[i].Line, "is required: a unique name (lowercase letters, digits, '_' and '-'), which from: refers to and which identifies the operator's state")
		}
		if conf != nil && conf.From() == nil {
			ps.add(c.OperatorKey(i)+".from", c.Operators[i].Line, "is required: the name of the source, operator or side output (op.port) the operator reads, or a list of them")
		}
		if conf != nil && conf.Name() != "" && conf.From() != nil {
			out[i] = conf
		}
	}
	if len(ps.list) > 0 {
		return out, &Error{Problems: ps.list}
	}
	return out, nil
}

// SinkExprs are the compiled expressions of a sink entry; TopicExpr is nil
// for a fixed topic, Headers in name order.
type SinkExprs struct {
	TopicExpr, Key, Value, Timestamp *plugin.Expr
	Headers                          []plugin.NamedExpr
}

// SourceExprs are the compiled expressions of a source entry; nil when
// absent.
type SourceExprs struct {
	Key, EventTime *plugin.Expr
}

// exprSpec compiles the expressions of sources and sinks through a
// plugin spec, so that their errors are placed in the file like an
// operator's.
func exprSpec(names ...string) *plugin.ConfigSpec {
	s := plugin.NewConfigSpec()
	for _, n := range names {
		s.Field(plugin.NewExprField(n, expression.RecordContext).Optional())
	}
	return s
}

// compile parses a synthetic mapping of the scalars in vals (name → the
// node found at key.name in the file, or a new scalar) with spec.
func (c *Config) compile(spec *plugin.ConfigSpec, key string, vals [][2]string) (*plugin.ParsedConfig, []Problem) {
	m := &yaml.Node{Kind: yaml.MappingNode, Line: c.Line(key)}
	for _, kv := range vals {
		if kv[1] == "" {
			continue
		}
		v := c.nodes[key+"."+kv[0]]
		if v == nil || v.Kind != yaml.ScalarNode || v.Value != kv[1] {
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv[1]}
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: kv[0], Line: v.Line}, v)
	}
	conf, pps := spec.Parse(m, key)
	ps := make([]Problem, len(pps))
	for i, p := range pps {
		ps[i] = Problem(p)
		if ps[i].Line == 0 {
			ps[i].Line = c.Line(p.Key)
		}
	}
	return conf, ps
}

// CompileSource compiles the expressions of sources[i] (key, event
// time); problems name the key, line and column.
func (c *Config) CompileSource(i int) (SourceExprs, []Problem) {
	s := &c.Sources[i]
	key := fmt.Sprintf("sources[%d]", i)
	et := s.EventTime.Expr
	etKey := "event_time.expr"
	if et == "" && s.EventTime.Field != "" {
		et, etKey = "value."+s.EventTime.Field, "event_time.field"
	}
	conf, ps := c.compile(exprSpec("key"), key, [][2]string{{"key", s.Key}})
	var out SourceExprs
	if conf != nil && s.Key != "" {
		out.Key, _ = conf.FieldExpr("key")
	}
	if et != "" {
		spec := plugin.NewConfigSpec().Field(plugin.NewObjectField("event_time",
			plugin.NewExprField(strings.TrimPrefix(etKey, "event_time."), expression.RecordContext)))
		m := &yaml.Node{Kind: yaml.MappingNode}
		inner := &yaml.Node{Kind: yaml.MappingNode, Line: c.Line(key + ".event_time")}
		v := c.nodes[key+"."+etKey]
		if v == nil || v.Kind != yaml.ScalarNode || etKey == "event_time.field" {
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: et}
		}
		inner.Content = []*yaml.Node{{Kind: yaml.ScalarNode, Value: strings.TrimPrefix(etKey, "event_time.")}, v}
		m.Content = []*yaml.Node{{Kind: yaml.ScalarNode, Value: "event_time"}, inner}
		econf, eps := spec.Parse(m, key)
		for _, p := range eps {
			if p.Line == 0 {
				p.Line = c.Line(key + "." + etKey)
			}
			ps = append(ps, Problem(p))
		}
		if econf != nil {
			out.EventTime, _ = econf.FieldExpr("event_time", strings.TrimPrefix(etKey, "event_time."))
		}
	}
	for j := range ps {
		ps[j].Key = strings.Replace(ps[j].Key, key, c.SourceKey(i), 1)
	}
	return out, ps
}

// CompileSink compiles the expressions of sinks[i]; problems name the
// key, line and column.
func (c *Config) CompileSink(i int) (SinkExprs, []Problem) {
	s := &c.Sinks[i]
	key := fmt.Sprintf("sinks[%d]", i)
	conf, ps := c.compile(exprSpec("topic_expr", "key", "value", "timestamp"), key,
		[][2]string{{"topic_expr", s.TopicExpr}, {"key", s.Key}, {"value", s.Value}, {"timestamp", s.Timestamp}})
	var out SinkExprs
	if conf != nil {
		if s.TopicExpr != "" {
			out.TopicExpr, _ = conf.FieldExpr("topic_expr")
		}
		out.Key, _ = conf.FieldExpr("key")
		out.Value, _ = conf.FieldExpr("value")
		out.Timestamp, _ = conf.FieldExpr("timestamp")
	}
	names := slices.Sorted(maps.Keys(s.Headers))
	if len(names) > 0 {
		hkey := key + ".headers"
		vals := make([][2]string, len(names))
		for j, n := range names {
			vals[j] = [2]string{n, s.Headers[n]}
		}
		hconf, hps := c.compile(exprSpec(names...), hkey, vals)
		ps = append(ps, hps...)
		if hconf != nil {
			for _, n := range names {
				e, err := hconf.FieldExpr(n)
				if err == nil {
					out.Headers = append(out.Headers, plugin.NamedExpr{Name: n, Expr: e})
				}
			}
		}
	}
	for j := range ps {
		ps[j].Key = strings.Replace(ps[j].Key, key, c.SinkKey(i), 1)
	}
	return out, ps
}

// SourceTopics returns the topics the job reads by name (not those a
// topic_regex matches), in order, without repeats: those of every source
// in the graph form, source.topics in the single chain.
func (c *Config) SourceTopics() []string {
	if !c.IsGraph() {
		return slices.Clone(c.Source.Topics)
	}
	var out []string
	for _, s := range c.Sources {
		for _, t := range s.Topics {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// SinkTopics returns the fixed topics the job writes (not those a
// topic_expr chooses per record), in order, without repeats: every
// sink's topic in the graph form, sink.topic in the single chain. The
// dead-letter topic is DeadLetterTopic.
func (c *Config) SinkTopics() []string {
	if !c.IsGraph() {
		return []string{c.Sink.Topic}
	}
	var out []string
	for _, s := range c.Sinks {
		if s.Topic != "" && !slices.Contains(out, s.Topic) {
			out = append(out, s.Topic)
		}
	}
	return out
}
