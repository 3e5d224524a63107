package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// ConfigPath is the configuration of query q ("q5") under the repository
// root: configs/nexmark/q5.yaml.
func ConfigPath(root, q string) string {
	return filepath.Join(root, "configs", "nexmark", q+".yaml")
}

// ReadConfig reads query q's configuration under root.
func ReadConfig(root, q string) ([]byte, error) {
	b, err := os.ReadFile(ConfigPath(root, q))
	if err != nil {
		return nil, fmt.Errorf("nexmark %s: %w", q, err)
	}
	return b, nil
}

// S3 is the s3 section of a run's configuration.
type S3 struct {
	Endpoint, Region string
}

// Overrides are what one run sets in a query's configuration; zero fields
// leave the file's value.
type Overrides struct {
	// JobName replaces job.name (checkpoints and transactional ids derive
	// from it: a restored run must keep the name of the run it restores).
	JobName string
	// Parallelism replaces job.parallelism.
	Parallelism int
	// Brokers replaces kafka.brokers.
	Brokers []string
	// Topic replaces the topics of every source.
	Topic string
	// Group sets the consumer group of every source (the source commits a
	// completed checkpoint's positions to it, which tests poll).
	Group string
	// StopAtEnd sets stop_at: end on every source when true and removes
	// stop_at when false: an unbounded run, stopped by a signal.
	StopAtEnd bool
	// Output replaces the topic of the (single) sink.
	Output string
	// DeadLetter replaces dead_letter.topic.
	DeadLetter string
	// TransactionTimeout sets output.transaction_timeout.
	TransactionTimeout time.Duration
	// Checkpoint replaces checkpoint.storage; Interval checkpoint.interval.
	Checkpoint string
	Interval   time.Duration
	// LeaseTimeout sets checkpoint.lease_timeout: how long a restarted
	// job in another state directory waits for a SIGKILLed holder.
	LeaseTimeout time.Duration
	// StateDir replaces state.dir.
	StateDir string
	// S3, when set, replaces the s3 section (path-style addressing).
	S3 *S3
	// HTTPListen replaces http.listen when set ("" switches it off).
	HTTPListen *string
	// LogLevel replaces log.level.
	LogLevel string
}

// ErrConfig marks a configuration Rewrite cannot apply overrides to.
var ErrConfig = errors.New("harness: unexpected configuration shape")

// Rewrite applies o to a query's configuration (the graph schema of
// docs/design/pipelines.md §1) and returns the new YAML, comments kept.
func Rewrite(src []byte, o Overrides) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("harness: parse: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: not a mapping of sections", ErrConfig)
	}
	root := doc.Content[0]
	if o.JobName != "" {
		set(section(root, "job"), "name", str(o.JobName))
	}
	if o.Parallelism > 0 {
		set(section(root, "job"), "parallelism", integer(int64(o.Parallelism)))
	}
	if len(o.Brokers) > 0 {
		set(section(root, "kafka"), "brokers", strs(o.Brokers...))
	}
	sources := get(root, "sources")
	if sources == nil || sources.Kind != yaml.SequenceNode || len(sources.Content) == 0 {
		return nil, fmt.Errorf("%w: no sources list", ErrConfig)
	}
	for _, s := range sources.Content {
		if s.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%w: a source is not a mapping", ErrConfig)
		}
		if o.Topic != "" {
			del(s, "topic_regex")
			set(s, "topics", strs(o.Topic))
		}
		if o.Group != "" {
			set(s, "group", str(o.Group))
		}
		if o.StopAtEnd {
			set(s, "stop_at", str("end"))
		} else {
			del(s, "stop_at")
		}
	}
	if o.Output != "" {
		sinks := get(root, "sinks")
		if sinks == nil || sinks.Kind != yaml.SequenceNode || len(sinks.Content) != 1 || sinks.Content[0].Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%w: want exactly one sink to set its topic", ErrConfig)
		}
		del(sinks.Content[0], "topic_expr")
		set(sinks.Content[0], "topic", str(o.Output))
	}
	if o.DeadLetter != "" {
		set(section(root, "dead_letter"), "topic", str(o.DeadLetter))
	}
	if o.TransactionTimeout > 0 {
		set(section(root, "output"), "transaction_timeout", str(o.TransactionTimeout.String()))
	}
	if o.Checkpoint != "" {
		set(section(root, "checkpoint"), "storage", str(o.Checkpoint))
	}
	if o.Interval > 0 {
		set(section(root, "checkpoint"), "interval", str(o.Interval.String()))
	}
	if o.LeaseTimeout > 0 {
		set(section(root, "checkpoint"), "lease_timeout", str(o.LeaseTimeout.String()))
	}
	if o.StateDir != "" {
		set(section(root, "state"), "dir", str(o.StateDir))
	}
	if o.S3 != nil {
		s3 := section(root, "s3")
		set(s3, "endpoint", str(o.S3.Endpoint))
		set(s3, "region", str(o.S3.Region))
		set(s3, "path_style", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	}
	if o.HTTPListen != nil {
		set(section(root, "http"), "listen", str(*o.HTTPListen))
	}
	if o.LogLevel != "" {
		set(section(root, "log"), "level", str(o.LogLevel))
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("harness: encode: %w", err)
	}
	return out, nil
}

// get returns the value of key in mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// section returns the mapping under key in m, adding an empty one if
// missing (or replacing a null).
func section(m *yaml.Node, key string) *yaml.Node {
	if v := get(m, key); v != nil && v.Kind == yaml.MappingNode {
		return v
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	set(m, key, v)
	return v
}

// set replaces or appends key: v in mapping m.
func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, str(key), v)
}

// del removes key from mapping m.
func del(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

func integer(n int64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(n, 10)}
}

func strs(ss ...string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, s := range ss {
		n.Content = append(n.Content, str(s))
	}
	return n
}
