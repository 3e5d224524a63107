package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var jobName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Validate checks every value and returns an *Error listing all problems, or
// nil. It does not contact Kafka or S3.
func (c *Config) Validate() error {
	var ps problems
	c.validateJob(&ps)
	c.validateKafka(&ps)
	if c.IsGraph() {
		c.validateGraph(&ps)
		c.validateOutput(&ps, "output.", c.Output)
	} else {
		c.validateSource(&ps)
		c.validatePipeline(&ps)
		c.validateSink(&ps)
		c.validateOutput(&ps, "sink.", Output{Delivery: c.Sink.Delivery, TransactionalIDPrefix: c.Sink.TransactionalIDPrefix,
			TransactionTimeout: c.Sink.TransactionTimeout, OnRejected: c.Sink.OnRejected})
	}
	c.validateCheckpoint(&ps)
	c.validateRestart(&ps)
	c.validateWeb(&ps)
	c.validateDrill(&ps)
	c.validateMemory(&ps)
	if c.State.Dir == "" {
		ps.add("state.dir", 0, "must not be empty")
	}
	if c.S3.Region == "" {
		ps.add("s3.region", 0, "must not be empty")
	}
	if c.S3.Endpoint != "" {
		if u, err := url.Parse(c.S3.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add("s3.endpoint", 0, "must be an http:// or https:// URL, got %q", c.S3.Endpoint)
		}
	}
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			ps.add("http.listen", 0, "must be host:port or empty, got %q", c.HTTP.Listen)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.add("log.level", 0, "must be one of %s, got %q", quoteList("debug", "info", "warn", "error"), c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		ps.add("log.format", 0, "must be one of %s, got %q", quoteList("auto", "json", "console"), c.Log.Format)
	}
	return ps.err("")
}

func (c *Config) validateJob(ps *problems) {
	switch {
	case c.Job.Name == "":
		ps.add("job.name", 0, "is required")
	case !jobName.MatchString(c.Job.Name) || len(c.Job.Name) > 200:
		ps.add("job.name", 0, "must be 1-200 letters, digits, '.', '_' or '-', got %q", c.Job.Name)
	}
	if c.Job.MaxParallelism < 1 || c.Job.MaxParallelism > 32768 {
		ps.add("job.max_parallelism", 0, "must be between 1 and 32768, got %d", c.Job.MaxParallelism)
	}
	if c.Job.Parallelism < 1 || c.Job.Parallelism > c.Job.MaxParallelism {
		ps.add("job.parallelism", 0, "must be between 1 and job.max_parallelism (%d), got %d", c.Job.MaxParallelism, c.Job.Parallelism)
	}
}

func (c *Config) validateKafka(ps *problems) {
	k := &c.Kafka
	if !k.Embedded && len(k.Brokers) == 0 {
		ps.add("kafka.brokers", 0, "at least one broker is required (or set kafka.embedded: true to try Tidemark out)")
	}
	for i, b := range k.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			ps.add(fmt.Sprintf("kafka.brokers[%d]", i), 0, "must be host:port, got %q", b)
		}
	}
	if k.ClientID == "" {
		ps.add("kafka.client_id", 0, "must not be empty")
	}
	if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
		ps.add("kafka.tls.cert_file", 0, "cert_file and key_file must be set together")
	}
	if !k.TLS.Enabled && (k.TLS.CAFile != "" || k.TLS.CertFile != "" || k.TLS.InsecureSkipVerify) {
		ps.add("kafka.tls.enabled", 0, "TLS settings are given but tls.enabled is false")
	}
	switch k.SASL.Mechanism {
	case "":
		if k.SASL.Username != "" || k.SASL.Password != "" {
			ps.add("kafka.sasl.mechanism", 0, "is required when a username or password is given")
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if k.SASL.Username == "" {
			ps.add("kafka.sasl.username", 0, "is required with mechanism %s", k.SASL.Mechanism)
		}
		if k.SASL.Password == "" {
			ps.add("kafka.sasl.password", 0, "is required with mechanism %s", k.SASL.Mechanism)
		}
	default:
		ps.add("kafka.sasl.mechanism", 0, "must be one of %s, got %q", quoteList(SASLPlain, SASLScramSHA256, SASLScramSHA512), k.SASL.Mechanism)
	}
	if k.Embedded {
		if len(k.Brokers) > 0 {
			ps.add("kafka.brokers", 0, "must be empty when kafka.embedded is true")
		}
		if k.TLS.Enabled || k.SASL.Mechanism != "" {
			ps.add("kafka.embedded", 0, "the embedded broker supports neither TLS nor SASL")
		}
		if _, port, err := net.SplitHostPort(k.EmbeddedListen); err != nil {
			ps.add("kafka.embedded_listen", 0, "must be host:port, e.g. %s: %v", DefaultEmbeddedListen, err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			ps.add("kafka.embedded_listen", 0, "port must be a number from 0 (any free port) to 65535, got %q", port)
		}
	} else if k.EmbeddedListen != DefaultEmbeddedListen {
		ps.add("kafka.embedded_listen", 0, "only applies with kafka.embedded: true")
	}
	s := k.Seed
	if s.Partitions < 1 || s.Partitions > 1000 {
		ps.add("kafka.seed.partitions", 0, "must be between 1 and 1000, got %d", s.Partitions)
	}
	if s.Records < 0 {
		ps.add("kafka.seed.records", 0, "must not be negative, got %d", s.Records)
	}
	if s.RatePerSecond < 0 {
		ps.add("kafka.seed.rate_per_second", 0, "must not be negative, got %d", s.RatePerSecond)
	}
	if s.MalformedEvery < 0 {
		ps.add("kafka.seed.malformed_every", 0, "must not be negative, got %d", s.MalformedEvery)
	}
	if s.Keys < 1 {
		ps.add("kafka.seed.keys", 0, "must be at least 1, got %d", s.Keys)
	}
	if !k.Embedded && s != Default().Kafka.Seed {
		ps.add("kafka.seed", 0, "only applies with kafka.embedded: true")
	}
}

func (c *Config) validateSource(ps *problems) {
	s := &c.Source
	switch {
	case len(s.Topics) == 0 && s.TopicRegex == "":
		ps.add("source.topics", 0, "one of source.topics and source.topic_regex is required")
	case len(s.Topics) > 0 && s.TopicRegex != "":
		ps.add("source.topic_regex", 0, "give source.topics or source.topic_regex, not both")
	}
	for i, t := range s.Topics {
		if msg := topicProblem(t); msg != "" {
			ps.add(fmt.Sprintf("source.topics[%d]", i), 0, "%s", msg)
		}
	}
	if s.TopicRegex != "" {
		if _, err := regexp.Compile(s.TopicRegex); err != nil {
			ps.add("source.topic_regex", 0, "is not a valid regular expression: %v", err)
		}
		if c.Kafka.Embedded {
			ps.add("source.topic_regex", 0, "the embedded quickstart needs source.topics to know which topics to seed")
		}
	}
	if _, err := c.StartTime(); err != nil {
		ps.add("source.start_offset", 0, "%v", err)
	}
	switch d := s.DiscoveryInterval; {
	case d < 0:
		ps.add("source.discovery_interval", 0, "must not be negative, got %s", d)
	case d > 0 && d < MinDiscoveryInterval:
		ps.add("source.discovery_interval", 0, "must be 0 (no discovery) or at least %s, got %s", MinDiscoveryInterval, d)
	}
	if f := s.EventTime.Field; f != "" && strings.TrimSpace(f) != f {
		ps.add("source.event_time.field", 0, "must not start or end with whitespace, got %q", f)
	}
	switch d := s.Watermark.MaxOutOfOrderness; {
	case d < 0:
		ps.add("source.watermark.max_out_of_orderness", 0, "must not be negative, got %s", d)
	case d%time.Millisecond != 0:
		ps.add("source.watermark.max_out_of_orderness", 0, "must be a whole number of milliseconds, got %s", d)
	}
	if d := s.Watermark.IdleTimeout; d < 0 {
		ps.add("source.watermark.idle_timeout", 0, "must not be negative, got %s", d)
	}
}

// MinDiscoveryInterval is the shortest source.discovery_interval accepted
// (other than 0, which disables discovery): each discovery lists the
// topics' metadata.
const MinDiscoveryInterval = 100 * time.Millisecond

// StartTime interprets source.start_offset: zero time with latest false for
// "earliest", latest true for "latest", or the timestamp given.
func (c *Config) StartTime() (t time.Time, err error) {
	return parseStartOffset(c.Source.StartOffset)
}

// parseStartOffset interprets a start_offset (see StartTime).
func parseStartOffset(s string) (t time.Time, err error) {
	switch s {
	case StartEarliest, StartLatest:
		return time.Time{}, nil
	}
	t, err = time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("must be %s or an RFC 3339 timestamp, got %q", quoteList(StartEarliest, StartLatest), s)
	}
	return t, nil
}

// topicProblem describes what makes name an invalid Kafka topic name, or "".
func topicProblem(name string) string {
	switch {
	case name == "":
		return "topic name must not be empty"
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not a valid topic name", name)
	case len(name) > 249:
		return "topic name is longer than 249 characters"
	case !jobName.MatchString(name):
		return fmt.Sprintf("topic name %q may only hold letters, digits, '.', '_' and '-'", name)
	}
	return ""
}

// OperatorTypes are the operator types the pipeline accepts.
var OperatorTypes = []string{"key_by", "passthrough", "count"}

func (c *Config) validatePipeline(ps *problems) {
	names := map[string]int{}
	keyed := -1 // the first operator that keeps keyed state
	for i, op := range c.Pipeline.Operators {
		key := fmt.Sprintf("pipeline.operators[%d]", i)
		known := false
		for _, t := range OperatorTypes {
			known = known || op.Type == t
		}
		if !known {
			ps.add(key+".type", 0, "must be one of %s, got %q", quoteList(OperatorTypes...), op.Type)
		}
		switch {
		case op.Type == "key_by" && op.Field == "":
			ps.add(key+".field", 0, "is required for key_by: the JSON field to key records by")
		case op.Type == "key_by" && keyed >= 0:
			ps.add(key+".type", 0, "key_by must come before pipeline.operators[%d] (%s), which keeps state by key", keyed, c.Pipeline.Operators[keyed].Type)
		case op.Type != "key_by" && op.Field != "":
			ps.add(key+".field", 0, "only applies to key_by")
		}
		if op.Type == "count" && keyed < 0 {
			keyed = i
		}
		if op.Name != "" {
			if j, dup := names[op.Name]; dup {
				ps.add(key+".name", 0, "%q is already the name of pipeline.operators[%d]", op.Name, j)
			}
			names[op.Name] = i
		}
	}
}

func (c *Config) validateSink(ps *problems) {
	s := &c.Sink
	if s.Topic == "" {
		ps.add("sink.topic", 0, "is required")
	} else if msg := topicProblem(s.Topic); msg != "" {
		ps.add("sink.topic", 0, "%s", msg)
	}
	for i, t := range c.Source.Topics {
		if t == s.Topic {
			ps.add("sink.topic", 0, "%q is also source.topics[%d]: the job would read its own output", t, i)
		}
		if t == c.DeadLetterTopic() {
			ps.add("sink.dead_letter_topic", 0, "%q is also source.topics[%d]", t, i)
		}
	}
	if s.DeadLetterTopic != "" {
		if msg := topicProblem(s.DeadLetterTopic); msg != "" {
			ps.add("sink.dead_letter_topic", 0, "%s", msg)
		} else if s.DeadLetterTopic == s.Topic {
			ps.add("sink.dead_letter_topic", 0, "must differ from sink.topic")
		}
	}
}

// validateOutput checks the settings the sinks share: the output block
// (prefix "output.") or the single chain's sink section ("sink.").
func (c *Config) validateOutput(ps *problems, prefix string, s Output) {
	if s.TransactionalIDPrefix != "" && strings.ContainsAny(s.TransactionalIDPrefix, " \t\n/") {
		ps.add(prefix+"transactional_id_prefix", 0, "must not contain whitespace or '/' (it separates the stage in transactional ids), got %q", s.TransactionalIDPrefix)
	}
	switch s.Delivery {
	case ExactlyOnce:
		if c.Checkpoint.Mode == AtLeastOnce {
			ps.add(prefix+"delivery", 0, "exactly_once needs checkpoint.mode: exactly_once (barrier alignment)")
		}
	case AtLeastOnce:
	default:
		ps.add(prefix+"delivery", 0, "must be one of %s, got %q", quoteList(ExactlyOnce, AtLeastOnce), s.Delivery)
	}
	// The broker aborts a transaction older than its timeout; a pending one
	// must survive until its checkpoint completes (DESIGN §6).
	if s.TransactionTimeout < time.Second {
		ps.add(prefix+"transaction_timeout", 0, "must be at least 1s, got %s", s.TransactionTimeout)
	} else if s.Delivery == ExactlyOnce && c.Checkpoint.Interval > 0 && c.Checkpoint.Timeout > 0 &&
		c.Checkpoint.MinPause >= 0 && c.Checkpoint.TolerableFailures >= 0 {
		need, how := c.TransactionLifetime()
		if least := (need + need/10 + time.Second - 1).Truncate(time.Second); s.TransactionTimeout < least {
			ps.add(prefix+"transaction_timeout", 0, "%s is too short: a transaction stays open from barrier n-1 until checkpoint n completes, "+
				"up to %s = %s, plus 10%% = %s; lower checkpoint.timeout or checkpoint.tolerable_failures, "+
				"or raise %stransaction_timeout to at least %s (the broker's transaction.max.timeout.ms, 15m by default, caps it)",
				s.TransactionTimeout, how, need, least, prefix, least)
		}
	}
	switch s.OnRejected {
	case OnRejectedDeadLetter, OnRejectedFail:
	default:
		ps.add(prefix+"on_rejected", 0, "must be one of %s, got %q", quoteList(OnRejectedDeadLetter, OnRejectedFail), s.OnRejected)
	}
}

// TransactionLifetime is how long a sink transaction may have to stay open
// with exactly-once delivery, and how that is computed. The transaction of
// checkpoint n opens at barrier n-1 and is committed when n completes:
// checkpoint n is triggered at most max(interval, timeout + min_pause)
// after n-1 (with max_concurrent 1, n waits for n-1 to end) and completes
// at most timeout later; each tolerated failure in between pushes the
// commit back by up to timeout + max(interval, min_pause). With
// max_concurrent above 1 checkpoints overlap and the bound is not reached.
func (c *Config) TransactionLifetime() (time.Duration, string) {
	k := &c.Checkpoint
	gap := max(k.Interval, k.Timeout+k.MinPause)
	perFailure := k.Timeout + max(k.Interval, k.MinPause)
	need := k.Timeout + gap
	if f := time.Duration(k.TolerableFailures); perFailure > 0 && f > (math.MaxInt64/4-need)/perFailure {
		need = math.MaxInt64 / 4 // saturate: far beyond any broker's limit
	} else {
		need += f * perFailure
	}
	how := fmt.Sprintf("checkpoint.timeout (%s) + max(checkpoint.interval (%s), checkpoint.timeout + checkpoint.min_pause (%s))",
		k.Timeout, k.Interval, k.Timeout+k.MinPause)
	if k.TolerableFailures > 0 {
		how += fmt.Sprintf(" + checkpoint.tolerable_failures (%d) × (checkpoint.timeout + max(checkpoint.interval, checkpoint.min_pause)) (%s)",
			k.TolerableFailures, perFailure)
	}
	return need, how
}

func (c *Config) validateCheckpoint(ps *problems) {
	k := &c.Checkpoint
	if k.Storage == "" {
		ps.add("checkpoint.storage", 0, "is required: file:///absolute/path or s3://bucket/prefix")
	} else if u, err := url.Parse(k.Storage); err != nil {
		ps.add("checkpoint.storage", 0, "is not a URI: %v", err)
	} else {
		switch u.Scheme {
		case "file":
			if u.Host != "" || !strings.HasPrefix(u.Path, "/") {
				ps.add("checkpoint.storage", 0, "a file URI needs an absolute path, file:///path, got %q", k.Storage)
			}
		case "s3":
			if u.Host == "" {
				ps.add("checkpoint.storage", 0, "an s3 URI needs a bucket, s3://bucket/prefix, got %q", k.Storage)
			}
		default:
			ps.add("checkpoint.storage", 0, "must start with file:// or s3://, got %q", k.Storage)
		}
	}
	if k.Interval < 10*time.Millisecond {
		ps.add("checkpoint.interval", 0, "must be at least 10ms, got %s", k.Interval)
	}
	if k.Timeout <= 0 {
		ps.add("checkpoint.timeout", 0, "must be positive, got %s", k.Timeout)
	}
	if k.MinPause < 0 {
		ps.add("checkpoint.min_pause", 0, "must not be negative, got %s", k.MinPause)
	}
	if k.MaxConcurrent < 1 {
		ps.add("checkpoint.max_concurrent", 0, "must be at least 1, got %d", k.MaxConcurrent)
	}
	if k.TolerableFailures < 0 {
		ps.add("checkpoint.tolerable_failures", 0, "must not be negative, got %d", k.TolerableFailures)
	}
	if k.LeaseTimeout < 100*time.Millisecond {
		ps.add("checkpoint.lease_timeout", 0, "must be at least 100ms, got %s", k.LeaseTimeout)
	}
	if k.AlignmentTimeout < 0 {
		ps.add("checkpoint.alignment_timeout", 0, "must not be negative, got %s", k.AlignmentTimeout)
	}
	if k.Retained < 1 {
		ps.add("checkpoint.retained", 0, "must be at least 1, got %d", k.Retained)
	}
	switch k.Mode {
	case ExactlyOnce, AtLeastOnce:
	default:
		ps.add("checkpoint.mode", 0, "must be one of %s, got %q", quoteList(ExactlyOnce, AtLeastOnce), k.Mode)
	}
}
