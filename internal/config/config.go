package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Delivery guarantees, used by checkpoint.mode and sink.delivery.
const (
	ExactlyOnce = "exactly_once"
	AtLeastOnce = "at_least_once"
)

// Config is the whole configuration of one processor. The zero value is not
// useful: start from Default, or use Load or Parse, which apply the defaults.
type Config struct {
	Job        Job        `yaml:"job"`
	Kafka      Kafka      `yaml:"kafka"`
	Source     Source     `yaml:"source"`
	Pipeline   Pipeline   `yaml:"pipeline"`
	Sink       Sink       `yaml:"sink"`
	Checkpoint Checkpoint `yaml:"checkpoint"`
	State      State      `yaml:"state"`
	Process    Process    `yaml:"process"` // memory.go
	S3         S3         `yaml:"s3"`
	HTTP       HTTP       `yaml:"http"`
	Savepoints Savepoints `yaml:"savepoints"` // web.go
	Log        Log        `yaml:"log"`
	Restart    Restart    `yaml:"restart"`
	Drill      Drill      `yaml:"drill"` // drill.go

	// The job graph form (graph.go): Sources, Operators (each parsed with
	// its type's spec, see ParseOperators), Sinks, the Output settings
	// the sinks share and the DeadLetter topic. A configuration uses
	// either these or Source, Pipeline and Sink (legacy.go).
	Sources    []SourceConfig `yaml:"sources"`
	Operators  []yaml.Node    `yaml:"operators"`
	Sinks      []SinkConfig   `yaml:"sinks"`
	Output     Output         `yaml:"output"`
	DeadLetter DeadLetter     `yaml:"dead_letter"`

	// lines and nodes hold, by key, the line and the value node of every
	// key of the file Parse read.
	lines map[string]int
	nodes map[string]*yaml.Node
}

// Job names the job. The name scopes checkpoint storage, transactional ids
// and the default consumer group, so it must stay the same for the life of
// the job.
type Job struct {
	// Name is required: letters, digits, '.', '_' and '-'.
	Name string `yaml:"name"`
	// MaxParallelism is the number of key groups state is split into. It is
	// fixed for the life of a job. Default 128.
	MaxParallelism int `yaml:"max_parallelism"`
	// Parallelism is the number of source tasks and of keyed tasks.
	// Default 2.
	Parallelism int `yaml:"parallelism"`
}

// Kafka says how to reach the Kafka cluster.
type Kafka struct {
	// Brokers are the seed brokers, host:port. Required unless Embedded.
	Brokers []string `yaml:"brokers"`
	// ClientID is sent to the brokers. Default "tidemark".
	ClientID string `yaml:"client_id"`
	// TLS configures encryption to the brokers.
	TLS TLS `yaml:"tls"`
	// SASL configures authentication to the brokers.
	SASL SASL `yaml:"sasl"`
	// Embedded starts an in-process Kafka-protocol broker on loopback
	// instead of connecting to Brokers. For trying Tidemark out only.
	Embedded bool `yaml:"embedded"`
	// EmbeddedListen is the host:port the embedded broker listens on, for
	// the processor and for `processor tail` and other Kafka clients; port
	// 0 picks a free one. Only with Embedded. Default "127.0.0.1:9192".
	EmbeddedListen string `yaml:"embedded_listen"`
	// Seed generates sample events into the source topics; only with
	// Embedded.
	Seed Seed `yaml:"seed"`
	// FetchMaxBytes is the most a source task's client fetches from a
	// broker at once, and per partition (franz-go FetchMaxBytes and
	// FetchMaxPartitionBytes), a byte size; a broker still returns one
	// whole record batch that is larger. Default DefaultFetchMaxBytes.
	FetchMaxBytes string `yaml:"fetch_max_bytes"`
}

// TLS configures client TLS to the brokers.
type TLS struct {
	// Enabled turns TLS on. Default false.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust; empty means the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and key for mutual
	// TLS; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the broker's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate checks. Never in production.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASL configures SASL authentication.
type SASL struct {
	// Mechanism is empty (no SASL), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	// Username and Password; use ${VAR} to take the password from the
	// environment.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Seed describes the sample events the embedded broker is filled with.
type Seed struct {
	// Partitions of each source topic the embedded broker creates. Default 4.
	Partitions int `yaml:"partitions"`
	// Records written before the pipeline starts. Default 1000.
	Records int `yaml:"records"`
	// RatePerSecond of records generated afterwards, until shutdown; 0
	// stops after the first Records. Default 200.
	RatePerSecond int `yaml:"rate_per_second"`
	// Keys is the number of distinct keys (users) in the sample. Default 50.
	Keys int `yaml:"keys"`
	// MalformedEvery makes every n-th sample event malformed (not JSON),
	// to show the dead-letter topic at work; 0 never. Default 0.
	MalformedEvery int `yaml:"malformed_every"`
}

// DefaultEmbeddedListen is the default of kafka.embedded_listen: on
// loopback, next to Kafka's usual 9092 rather than on it.
const DefaultEmbeddedListen = "127.0.0.1:9192"

// Start offsets for partitions without checkpointed state.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Source says what to read.
type Source struct {
	// Topics to read; exactly one of Topics and TopicRegex is required.
	Topics []string `yaml:"topics"`
	// TopicRegex reads every topic whose whole name matches (RE2 syntax).
	TopicRegex string `yaml:"topic_regex"`
	// Group is the consumer group used for offset commits (lag monitoring).
	// Default "tidemark-<job.name>".
	Group string `yaml:"group"`
	// StartOffset for partitions without stored offsets: "earliest",
	// "latest", or an RFC 3339 timestamp. Default "earliest".
	StartOffset string `yaml:"start_offset"`
	// DiscoveryInterval is how often the topics (or the regex's matches)
	// are listed again to find new partitions and topics; 0 disables
	// discovery. Default 30s.
	DiscoveryInterval time.Duration `yaml:"discovery_interval"`
	// EventTime says where a record's event time comes from.
	EventTime EventTime `yaml:"event_time"`
	// Watermark configures the event-time watermarks the source emits.
	Watermark Watermark `yaml:"watermark"`
}

// EventTime says where a source record's event time comes from.
type EventTime struct {
	// Field is a top-level field of the JSON value holding the event time,
	// as epoch milliseconds (a number) or an RFC 3339 string. A record
	// without it, or with a value that cannot be read, keeps its Kafka
	// timestamp. Default "": the Kafka record timestamp.
	Field string `yaml:"field"`
}

// Watermark configures a source's event-time watermarks.
type Watermark struct {
	// MaxOutOfOrderness is how far behind the newest event time of its
	// partition a record may arrive and still not be late. A whole number
	// of milliseconds. Default 0.
	MaxOutOfOrderness time.Duration `yaml:"max_out_of_orderness"`
	// IdleTimeout marks a partition idle when no record arrived from it for
	// this long; idle partitions do not hold the watermark back. Default 0:
	// never idle.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// Pipeline lists the operators records pass through between source and
// sink. Empty means passthrough.
type Pipeline struct {
	Operators []Operator `yaml:"operators"`
}

// Operator is one step of the pipeline.
type Operator struct {
	// Type of the operator: "key_by", "passthrough" or "count".
	Type string `yaml:"type"`
	// Name identifies the operator's state across restarts; default its
	// type and position.
	Name string `yaml:"name"`
	// Field is the JSON field key_by takes the key from.
	Field string `yaml:"field"`
}

// Sink says where results go.
type Sink struct {
	// Topic the results are written to. Required.
	Topic string `yaml:"topic"`
	// TransactionalIDPrefix prefixes every transactional id the sink uses.
	// Default "tidemark-<job.name>".
	TransactionalIDPrefix string `yaml:"transactional_id_prefix"`
	// DeadLetterTopic receives the records operators reject, with headers
	// saying why and where they came from. Default "<topic>-dead-letters".
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// Delivery is "exactly_once" (transactions committed with checkpoints)
	// or "at_least_once" (idempotent producer). Default "exactly_once".
	Delivery string `yaml:"delivery"`
	// TransactionTimeout is the producer's transaction.timeout.ms. With
	// exactly-once delivery it must exceed Config.TransactionLifetime by
	// 10%. Default 15m.
	TransactionTimeout time.Duration `yaml:"transaction_timeout"`
	// OnRejected says what happens to a record Kafka would refuse (larger
	// than the topic's max.message.bytes, say): "dead_letter" writes it to
	// the dead-letter topic, truncated if it must be, with its provenance;
	// "fail" stops the job with an error naming it. Default "dead_letter".
	OnRejected string `yaml:"on_rejected"`
}

// Checkpoint configures periodic checkpoints.
type Checkpoint struct {
	// Storage is the checkpoint root: file:///abs/path or s3://bucket/prefix.
	// Required.
	Storage string `yaml:"storage"`
	// Interval between checkpoint triggers. Default 10s.
	Interval time.Duration `yaml:"interval"`
	// Timeout after which an unfinished checkpoint is aborted. Default 3m.
	// It bounds how long a sink transaction stays open (see
	// TransactionLifetime), so it must stay well below
	// sink.transaction_timeout.
	Timeout time.Duration `yaml:"timeout"`
	// MinPause between the end of one checkpoint and the next trigger.
	// Default 0.
	MinPause time.Duration `yaml:"min_pause"`
	// MaxConcurrent checkpoints in flight. Default 1.
	MaxConcurrent int `yaml:"max_concurrent"`
	// TolerableFailures is how many checkpoint failures in a row are
	// tolerated before the job restarts from its last checkpoint. Default 0.
	TolerableFailures int `yaml:"tolerable_failures"`
	// Retained is the number of complete checkpoints kept. Default 3.
	Retained int `yaml:"retained"`
	// Mode is "exactly_once" (barriers aligned) or "at_least_once".
	// Default "exactly_once".
	Mode string `yaml:"mode"`
	// LeaseTimeout is how long the instance holding the job may miss its
	// lease heartbeats before another instance takes the job over.
	// Default 15s.
	LeaseTimeout time.Duration `yaml:"lease_timeout"`
	// AlignmentTimeout, when positive, turns an exactly-once checkpoint
	// whose barriers have not all reached a task by then into an unaligned
	// one (the records in flight are stored with it). Default 0: always
	// aligned.
	AlignmentTimeout time.Duration `yaml:"alignment_timeout"`
}

// State configures local operator state.
type State struct {
	// Dir holds the local Pebble state and checkpoint staging. Default
	// "./tidemark-state".
	Dir string `yaml:"dir"`
	// Memory is the memory budget of all the tasks' state together, a
	// byte size (ParseByteSize): Pebble's block cache, shared by every
	// task's database, with their memtables reserved in it. Default
	// DefaultStateMemory.
	Memory string `yaml:"memory"`
}

// S3 configures the S3 client used for s3:// checkpoint storage.
// Credentials come from the AWS default chain (environment, shared files,
// instance roles).
type S3 struct {
	// Endpoint overrides the S3 endpoint URL, e.g. for MinIO. Default AWS.
	Endpoint string `yaml:"endpoint"`
	// Region of the bucket. Default "us-east-1".
	Region string `yaml:"region"`
	// PathStyle addresses buckets as endpoint/bucket rather than
	// bucket.endpoint; most S3-compatible servers need it. Default false.
	PathStyle bool `yaml:"path_style"`
}

// HTTP configures the HTTP server for health, readiness and metrics.
type HTTP struct {
	// Listen address, host:port; empty disables the server. Default
	// "127.0.0.1:8081".
	Listen string `yaml:"listen"`
	// Token, if set, is the bearer token the mutating endpoints
	// (savepoints) require; empty: the environment variable
	// TIDEMARK_HTTP_TOKEN, if set (see BearerToken). Without a token they
	// answer only on a loopback listen address.
	Token string `yaml:"token"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json, console, or auto (console when stderr is a terminal,
	// json otherwise). Default auto.
	Format string `yaml:"format"`
}

// Default returns a configuration with every default set. Job name, kafka
// brokers, source topics, sink topic and checkpoint storage have no default.
func Default() Config {
	return Config{
		Job:   Job{MaxParallelism: 128, Parallelism: 2},
		Kafka: Kafka{ClientID: "tidemark", EmbeddedListen: DefaultEmbeddedListen, FetchMaxBytes: DefaultFetchMaxBytes, Seed: Seed{Partitions: 4, Records: 1000, RatePerSecond: 200, Keys: 50}},
		Source: Source{
			StartOffset:       StartEarliest,
			DiscoveryInterval: 30 * time.Second,
		},
		Sink:   Sink{Delivery: ExactlyOnce, TransactionTimeout: 15 * time.Minute, OnRejected: OnRejectedDeadLetter},
		Output: Output{Delivery: ExactlyOnce, TransactionTimeout: 15 * time.Minute, OnRejected: OnRejectedDeadLetter},
		Checkpoint: Checkpoint{
			Interval:      10 * time.Second,
			Timeout:       3 * time.Minute,
			MaxConcurrent: 1,
			Retained:      3,
			Mode:          ExactlyOnce,
			LeaseTimeout:  15 * time.Second,
		},
		State: State{Dir: "./tidemark-state", Memory: DefaultStateMemory},
		S3:    S3{Region: "us-east-1"},
		HTTP:  HTTP{Listen: "127.0.0.1:8081"},
		Log:   Log{Level: "info", Format: "auto"},

		// restart.go
		Restart: DefaultRestart(),
		// web.go
		Savepoints: DefaultSavepoints(),
		// drill.go
		Drill: DefaultDrill(),
	}
}

// ConsumerGroup is the configured group or its default.
func (c *Config) ConsumerGroup() string {
	if c.Source.Group != "" {
		return c.Source.Group
	}
	return "tidemark-" + c.Job.Name
}

// DeadLetterTopic is the configured dead-letter topic or its default:
// in the graph form dead_letter.topic or "<first sink's topic>-dead-letters"
// ("" if the first sink chooses its topic by expression), in the single
// chain sink.dead_letter_topic or "<sink.topic>-dead-letters".
func (c *Config) DeadLetterTopic() string {
	if c.IsGraph() {
		switch {
		case c.DeadLetter.Topic != "":
			return c.DeadLetter.Topic
		case len(c.Sinks) > 0 && c.Sinks[0].Topic != "":
			return c.Sinks[0].Topic + "-dead-letters"
		}
		return ""
	}
	if c.Sink.DeadLetterTopic != "" {
		return c.Sink.DeadLetterTopic
	}
	return c.Sink.Topic + "-dead-letters"
}

// TxnIDPrefix is the configured transactional id prefix or its default.
func (c *Config) TxnIDPrefix() string {
	if c.Sink.TransactionalIDPrefix != "" {
		return c.Sink.TransactionalIDPrefix
	}
	return "tidemark-" + c.Job.Name
}
