package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/config"
)

const minimal = `
job:
  name: demo
kafka:
  brokers: [localhost:9092]
source:
  topics: [in]
sink:
  topic: out
checkpoint:
  storage: file:///tmp/chk
`

func noEnv(string) (string, bool) { return "", false }

func parse(t *testing.T, yml string, env map[string]string) (config.Config, error) {
	t.Helper()
	return config.Parse("test.yaml", []byte(yml), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

func problems(t *testing.T, err error) []config.Problem {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %T: %v", err, err)
	}
	return ce.Problems
}

func TestMinimalGetsDefaults(t *testing.T) {
	cfg, err := parse(t, minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Checkpoint.Interval != 10*time.Second || cfg.Checkpoint.Retained != 3 || cfg.Checkpoint.Mode != config.ExactlyOnce {
		t.Errorf("checkpoint defaults not applied: %+v", cfg.Checkpoint)
	}
	if cfg.Job.MaxParallelism != 128 || cfg.Kafka.ClientID != "tidemark" || cfg.Sink.Delivery != config.ExactlyOnce {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if got := cfg.ConsumerGroup(); got != "tidemark-demo" {
		t.Errorf("ConsumerGroup() = %q", got)
	}
	if got := cfg.TxnIDPrefix(); got != "tidemark-demo" {
		t.Errorf("TxnIDPrefix() = %q", got)
	}
}

func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	yml := minimal + "  intervall: 5s\nlogg:\n  level: debug\n"
	_, err := parse(t, yml, nil)
	ps := problems(t, err)
	if len(ps) != 2 {
		t.Fatalf("want 2 problems, got %v", err)
	}
	if ps[0].Key != "checkpoint.intervall" || ps[0].Line != 12 || !strings.Contains(ps[0].Msg, `did you mean "interval"`) {
		t.Errorf("first problem = %+v", ps[0])
	}
	if ps[1].Key != "logg" || ps[1].Line != 13 || !strings.Contains(ps[1].Msg, `"log"`) {
		t.Errorf("second problem = %+v", ps[1])
	}
	if msg := err.Error(); !strings.Contains(msg, "test.yaml") || !strings.Contains(msg, "line 12: checkpoint.intervall: unknown key") {
		t.Errorf("message does not name file, line and key:\n%s", msg)
	}
}

func TestUnknownKeyInList(t *testing.T) {
	_, err := parse(t, minimal+"pipeline:\n  operators:\n    - type: passthrough\n      nmae: x\n", nil)
	ps := problems(t, err)
	if len(ps) != 1 || ps[0].Key != "pipeline.operators[0].nmae" || ps[0].Line != 15 {
		t.Fatalf("got %v", err)
	}
}

func TestWrongTypeIsReported(t *testing.T) {
	_, err := parse(t, minimal+"  retained: many\n", nil)
	if err == nil || !strings.Contains(err.Error(), "line 12") || !strings.Contains(err.Error(), "many") {
		t.Fatalf("got %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	yml := `
job:
  name: "bad name"
kafka:
  sasl:
    mechanism: GSSAPI
source:
  topics: [in]
  topic_regex: "in.*"
  start_offset: yesterday
sink:
  topic: in
  delivery: twice
checkpoint:
  storage: ftp://x
  interval: 0s
  retained: 0
  mode: sometimes
log:
  level: loud
`
	_, err := parse(t, yml, nil)
	ps := problems(t, err)
	want := []string{"job.name", "kafka.brokers", "kafka.sasl.mechanism", "source.topic_regex", "source.start_offset",
		"sink.topic", "sink.delivery", "checkpoint.storage", "checkpoint.interval", "checkpoint.retained", "checkpoint.mode", "log.level"}
	got := map[string]config.Problem{}
	for _, p := range ps {
		got[p.Key] = p
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("no problem reported for %s; got:\n%v", k, err)
		}
	}
	if p := got["checkpoint.mode"]; p.Line != 18 {
		t.Errorf("checkpoint.mode problem on line %d, want 18", p.Line)
	}
}

func TestTransactionTimeoutMustCoverCheckpoint(t *testing.T) {
	yml := strings.Replace(minimal, "sink:\n  topic: out\n", "sink:\n  topic: out\n  transaction_timeout: 10m\n", 1) + "  interval: 1m\n  timeout: 10m\n"
	_, err := parse(t, yml, nil)
	ps := problems(t, err)
	if len(ps) != 1 || ps[0].Key != "sink.transaction_timeout" || ps[0].Line != 10 {
		t.Fatalf("got %v", err)
	}
}

func TestEnvSubstitution(t *testing.T) {
	yml := strings.Replace(minimal, "[localhost:9092]", `["${BROKER}", "${OTHER:-b:9093}"]`, 1) +
		"s3:\n  region: ${REGION}\n  endpoint: http://h:${PORT}\n" +
		"kafka:\n"
	yml = strings.TrimSuffix(yml, "kafka:\n")
	yml = strings.Replace(yml, "  brokers:", "  sasl:\n    mechanism: PLAIN\n    username: u\n    password: pa$$${SECRET}\n  brokers:", 1)
	env := map[string]string{"BROKER": "a:9092", "REGION": "eu-west-1", "PORT": "9000", "SECRET": "s#1"}
	cfg, err := parse(t, yml, env)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Kafka.Brokers, ","); got != "a:9092,b:9093" {
		t.Errorf("brokers = %q", got)
	}
	if cfg.S3.Region != "eu-west-1" || cfg.S3.Endpoint != "http://h:9000" {
		t.Errorf("s3 = %+v", cfg.S3)
	}
	if cfg.Kafka.SASL.Password != "pa$s#1" {
		t.Errorf("password = %q, want pa$s#1", cfg.Kafka.SASL.Password)
	}
}

func TestEnvSubstitutionTypedValue(t *testing.T) {
	cfg, err := parse(t, minimal+"  retained: ${KEEP}\n", map[string]string{"KEEP": "7"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Checkpoint.Retained != 7 {
		t.Errorf("retained = %d", cfg.Checkpoint.Retained)
	}
}

func TestUnsetEnvNamesVariableAndKey(t *testing.T) {
	_, err := parse(t, strings.Replace(minimal, "name: demo", "name: ${JOB}", 1), nil)
	ps := problems(t, err)
	if len(ps) != 1 || ps[0].Key != "job.name" || ps[0].Line != 3 || !strings.Contains(ps[0].Msg, "JOB is not set") {
		t.Fatalf("got %v", err)
	}
}

func TestEmptyAndMalformedFiles(t *testing.T) {
	_, err := parse(t, "", nil)
	if err == nil || !strings.Contains(err.Error(), "job.name: is required") {
		t.Errorf("empty file: %v", err)
	}
	_, err = parse(t, "- a\n- b\n", nil)
	if err == nil || !strings.Contains(err.Error(), "must be a mapping") {
		t.Errorf("list file: %v", err)
	}
	_, err = parse(t, "job: [\n", nil)
	if err == nil || !strings.Contains(err.Error(), "line") {
		t.Errorf("broken yaml: %v", err)
	}
}

func TestEmbeddedRules(t *testing.T) {
	yml := strings.Replace(minimal, "brokers: [localhost:9092]", "embedded: true", 1)
	if _, err := parse(t, yml, nil); err != nil {
		t.Fatalf("embedded without brokers: %v", err)
	}
	_, err := parse(t, minimal+"kafka:\n", nil)
	if err == nil {
		t.Fatal("duplicate section accepted")
	}
	yml = strings.Replace(minimal, "brokers: [localhost:9092]", "brokers: [localhost:9092]\n  seed:\n    records: 5", 1)
	ps := problems(t, mustErr(parse(t, yml, nil)))
	if len(ps) != 1 || ps[0].Key != "kafka.seed" {
		t.Fatalf("seed without embedded: %v", ps)
	}
}

func mustErr(_ config.Config, err error) error { return err }

// TestExampleConfigs loads every file in configs/: each must be valid as
// shipped, with the environment unset.
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Parse(f, data, noEnv); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSourceDiscoveryEventTimeWatermarkDefaults(t *testing.T) {
	cfg, err := parse(t, minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Source
	if s.DiscoveryInterval != 30*time.Second || s.EventTime.Field != "" || s.Watermark != (config.Watermark{}) {
		t.Errorf("source defaults not applied: %+v", s)
	}
}

func TestSourceDiscoveryEventTimeWatermarkParse(t *testing.T) {
	yml := strings.Replace(minimal, "  topics: [in]\n", `  topics: [in]
  discovery_interval: 0s
  event_time:
    field: ts
  watermark:
    max_out_of_orderness: 5s
    idle_timeout: 1m
`, 1)
	cfg, err := parse(t, yml, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Source
	if s.DiscoveryInterval != 0 || s.EventTime.Field != "ts" || s.Watermark.MaxOutOfOrderness != 5*time.Second || s.Watermark.IdleTimeout != time.Minute {
		t.Errorf("source = %+v", s)
	}
}

func TestSourceDiscoveryEventTimeWatermarkProblems(t *testing.T) {
	yml := strings.Replace(minimal, "  topics: [in]\n", `  topics: [in]
  discovery_interval: 10ms
  event_time:
    field: " ts"
  watermark:
    max_out_of_orderness: 1500us
    idle_timeout: -1s
`, 1)
	_, err := parse(t, yml, nil)
	got := map[string]config.Problem{}
	for _, p := range problems(t, err) {
		got[p.Key] = p
	}
	want := map[string]int{ // key: line
		"source.discovery_interval":             8,
		"source.event_time.field":               10,
		"source.watermark.max_out_of_orderness": 12,
		"source.watermark.idle_timeout":         13,
	}
	for k, line := range want {
		if p, ok := got[k]; !ok || p.Line != line {
			t.Errorf("problem for %s = %+v, want one on line %d; all:\n%v", k, p, line, err)
		}
	}
	if len(got) != len(want) {
		t.Errorf("want %d problems, got:\n%v", len(want), err)
	}
	yml = strings.Replace(minimal, "  topics: [in]\n", "  topics: [in]\n  discovery_interval: -1s\n  watermark:\n    max_out_of_orderness: -1s\n", 1)
	ps := problems(t, mustErr(parse(t, yml, nil)))
	if len(ps) != 2 || ps[0].Key != "source.discovery_interval" || ps[1].Key != "source.watermark.max_out_of_orderness" {
		t.Errorf("negative durations: %v", ps)
	}
}
