package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// The single-chain form of before (source, pipeline, sink) keeps loading
// unchanged (design §1.6). The planner plans it as before (stages source
// and keyed, the same operators, transactional ids and topology
// description lines), so that its checkpoints restore across the upgrade;
// Migrate prints the same job in the graph form for those who want to
// extend it (a new topology: its first run starts without the old
// state).

// LegacySourceName and LegacySinkName are the names the single chain's
// source and sink have in the graph.
const (
	LegacySourceName = "source"
	LegacySinkName   = "sink"
)

// legacyOutput returns the single chain's sink settings as an Output.
func (c *Config) legacyOutput() Output {
	return Output{Delivery: c.Sink.Delivery, TransactionalIDPrefix: c.Sink.TransactionalIDPrefix,
		TransactionTimeout: c.Sink.TransactionTimeout, OnRejected: c.Sink.OnRejected}
}

// syncOutput makes Output and the sink's shared settings agree: in the
// single-chain form Output takes sink.*, in the graph form the sink
// section takes output.* (so that code reading either sees the effective
// values).
func (c *Config) syncOutput() {
	if !c.IsGraph() {
		c.Output = c.legacyOutput()
		return
	}
	c.Sink.Delivery = c.Output.Delivery
	c.Sink.TransactionalIDPrefix = c.Output.TransactionalIDPrefix
	c.Sink.TransactionTimeout = c.Output.TransactionTimeout
	c.Sink.OnRejected = c.Output.OnRejected
	c.Sink.DeadLetterTopic = c.DeadLetterTopic()
}

// LegacyOperatorName returns the name of pipeline.operators[i]: its name,
// or "<type>-<i>".
func (c *Config) LegacyOperatorName(i int) string {
	op := c.Pipeline.Operators[i]
	if op.Name != "" {
		return op.Name
	}
	return fmt.Sprintf("%s-%d", op.Type, i)
}

// LegacySource returns the single chain's source as a graph source named
// "source".
func (c *Config) LegacySource() SourceConfig {
	s := c.Source
	return SourceConfig{Name: LegacySourceName, Topics: s.Topics, TopicRegex: s.TopicRegex, Format: FormatRaw,
		EventTime: SourceEventTime{Field: s.EventTime.Field, Format: TimeAuto}, Watermark: s.Watermark,
		StartOffset: s.StartOffset, Group: s.Group, DiscoveryInterval: s.DiscoveryInterval}
}

// LegacySink returns the single chain's sink as a graph sink named
// "sink" reading from the last operator (or the source).
func (c *Config) LegacySink() SinkConfig {
	s := DefaultSinkConfig()
	s.Name, s.Topic, s.Format = LegacySinkName, c.Sink.Topic, FormatRaw
	s.From = LegacySourceName
	if n := len(c.Pipeline.Operators); n > 0 {
		s.From = c.LegacyOperatorName(n - 1)
	}
	return s
}

// Migrate rewrites a configuration file of the single-chain form into the
// job graph form (design §1.6) and returns the new file: source becomes
// sources[0] named "source" with format raw (values as bytes, as the
// single chain had them); each pipeline operator an entry of operators
// reading the one before it (key_by keeps field: f, which keys exactly as
// before, where key: value.f would write a number in decimal rather than
// in its JSON text); sink becomes sinks[0] named "sink" with its topic
// and format raw, its dead_letter_topic becomes dead_letter.topic, and
// delivery, transactional_id_prefix, transaction_timeout and on_rejected
// move to output. Every other section, ${VAR} reference and comment stays
// as it is. A file already in the graph form is an error wrapping
// ErrNotLegacy.
func Migrate(data []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %s", yamlMsg(err))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config: the configuration must be a mapping of sections, got %s", kindName(root))
	}
	var out []*yaml.Node
	var src, pipe, snk *yaml.Node
	var srcKey, pipeKey, snkKey *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolveNode(root.Content[i+1])
		switch k.Value {
		case "sources", "operators", "sinks":
			return nil, fmt.Errorf("config: line %d: %s: %w", k.Line, k.Value, ErrNotLegacy)
		case "source":
			src, srcKey = v, k
		case "pipeline":
			pipe, pipeKey = v, k
		case "sink":
			snk, snkKey = v, k
		}
	}
	if src == nil && snk == nil {
		return nil, fmt.Errorf("config: neither source nor sink: %w", ErrNotLegacy)
	}
	// Operators, in order.
	prev := LegacySourceName
	var ops []*yaml.Node
	if pipe != nil && pipe.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(pipe.Content); i += 2 {
			if pipe.Content[i].Value != "operators" {
				continue
			}
			list := resolveNode(pipe.Content[i+1])
			if list.Kind != yaml.SequenceNode {
				return nil, fmt.Errorf("config: line %d: pipeline.operators: %s, got %s", list.Line, "must be a list", kindName(list))
			}
			for j, item := range list.Content {
				item = resolveNode(item)
				if item.Kind != yaml.MappingNode {
					return nil, fmt.Errorf("config: line %d: pipeline.operators[%d]: must be a mapping, got %s", item.Line, j, kindName(item))
				}
				var typ, name, field string
				for x := 0; x+1 < len(item.Content); x += 2 {
					switch item.Content[x].Value {
					case "type":
						typ = item.Content[x+1].Value
					case "name":
						name = item.Content[x+1].Value
					case "field":
						field = item.Content[x+1].Value
					}
				}
				if name == "" {
					name = fmt.Sprintf("%s-%d", typ, j)
				}
				op := mapping(item.HeadComment, "name", name, "type", typ, "from", prev)
				op.LineComment = item.LineComment
				if typ == "key_by" {
					// field, not key: value.<field>: a number keeps its
					// JSON text as the key, so keys stay as they were.
					op.Content = append(op.Content, scalar("field"), scalar(field))
				}
				carryComments(item, op)
				ops = append(ops, op)
				prev = name
			}
		}
	}
	var dlTopic *yaml.Node
	output := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	sinkEntry := mapping("", "name", LegacySinkName, "from", prev, "format", FormatRaw)
	if snk != nil && snk.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(snk.Content); i += 2 {
			k, v := snk.Content[i], snk.Content[i+1]
			switch k.Value {
			case "dead_letter_topic":
				dlTopic = v
			case "topic":
				sinkEntry.Content = append(sinkEntry.Content, k, v)
			default:
				output.Content = append(output.Content, k, v)
			}
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k {
		case srcKey:
			// raw, as the single chain read and wrote values: operators
			// see the bytes, the sink writes them as they are.
			entry := mapping("", "name", LegacySourceName, "format", FormatRaw)
			if s := resolveNode(v); s.Kind == yaml.MappingNode {
				entry.Content = append(entry.Content, s.Content...)
			}
			key := scalar("sources")
			key.HeadComment, key.LineComment, key.FootComment = k.HeadComment, k.LineComment, k.FootComment
			out = append(out, key, seq(entry))
		case pipeKey:
			if len(ops) > 0 {
				key := scalar("operators")
				key.HeadComment, key.LineComment, key.FootComment = k.HeadComment, k.LineComment, k.FootComment
				out = append(out, key, seq(ops...))
			}
		case snkKey:
			key := scalar("sinks")
			key.HeadComment, key.LineComment, key.FootComment = k.HeadComment, k.LineComment, k.FootComment
			out = append(out, key, seq(sinkEntry))
			if len(output.Content) > 0 {
				out = append(out, scalar("output"), output)
			}
			if dlTopic != nil {
				out = append(out, scalar("dead_letter"), mapping(""))
				out[len(out)-1].Content = []*yaml.Node{scalar("topic"), dlTopic}
			}
		default:
			out = append(out, k, v)
		}
	}
	root.Content = out
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return b.Bytes(), nil
}

// ErrNotLegacy: Migrate was given a configuration already in the job
// graph form.
var ErrNotLegacy = errors.New("the configuration is not of the single-chain form (source, pipeline, sink): nothing to migrate")

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func seq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
}

// mapping returns a mapping of the key/value pairs kv.
func mapping(comment string, kv ...string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: comment}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Content = append(m.Content, scalar(kv[i]), scalar(kv[i+1]))
	}
	return m
}

// carryComments moves the line comments of a legacy operator's keys to
// the same keys of its migrated entry.
func carryComments(from, to *yaml.Node) {
	for i := 0; i+1 < len(from.Content); i += 2 {
		k, v := from.Content[i], from.Content[i+1]
		for j := 0; j+1 < len(to.Content); j += 2 {
			if to.Content[j].Value == k.Value {
				to.Content[j+1].LineComment = v.LineComment
				to.Content[j].HeadComment = k.HeadComment
			}
		}
	}
}
