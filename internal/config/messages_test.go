package config_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/config"
)

// TestWrongTypesNameKeyAndLine: a value of the wrong type is reported with
// its key path and line in our words, and nothing else is: no raw YAML
// error, no problem that only follows from the value being missing.
func TestWrongTypesNameKeyAndLine(t *testing.T) {
	yml := strings.Replace(minimal, "  brokers: [localhost:9092]\n", "  brokers: [localhost:9092]\n  tls:\n    enabled: \"yes please\"\n", 1) +
		"  interval: 5\n"
	ps := problems(t, mustErr(parse(t, yml, nil)))
	want := []config.Problem{
		{Key: "kafka.tls.enabled", Line: 7, Msg: `must be true or false, got "yes please"`},
		{Key: "checkpoint.interval", Line: 14, Msg: `must be a duration with a unit, such as 500ms, 10s or 1m30s, got "5"`},
	}
	if !slices.Equal(ps, want) {
		t.Fatalf("problems:\n%v\nwant:\n%v", ps, want)
	}

	// kafka.embedded left at false by the bad value must not make
	// kafka.brokers required, nor kafka.seed misplaced.
	yml = strings.Replace(minimal, "  brokers: [localhost:9092]\n", "  embedded: \"yes please\"\n  seed:\n    records: 5\n", 1)
	ps = problems(t, mustErr(parse(t, yml, nil)))
	if len(ps) != 1 || ps[0].Key != "kafka.embedded" || ps[0].Line != 5 || !strings.Contains(ps[0].Msg, "true or false") {
		t.Fatalf("want one problem for kafka.embedded on line 5, got %v", ps)
	}
}

func TestWrongShapesNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct{ from, to, key, msg string }{
		{"  brokers: [localhost:9092]", "  brokers: localhost:9092", "kafka.brokers", `must be a list ([a, b], or one "- item" per line), got "localhost:9092"`},
		{"kafka:\n  brokers: [localhost:9092]", "kafka: localhost:9092", "kafka", `must be a section of keys (a mapping), got "localhost:9092"`},
		{"  name: demo", "  name: [a, b]", "job.name", "must be a single value (quote it if it holds special characters), got a list"},
		{"  topic: out", "  topic: out\n  transaction_timeout: {a: 1}", "sink.transaction_timeout", "must be a duration with a unit, such as 500ms, 10s or 1m30s, got a mapping"},
	} {
		ps := problems(t, mustErr(parse(t, strings.Replace(minimal, tc.from, tc.to, 1), nil)))
		if len(ps) != 1 || ps[0].Key != tc.key || ps[0].Msg != tc.msg || ps[0].Line == 0 {
			t.Errorf("%q: got %v, want one problem %s: %s", tc.to, ps, tc.key, tc.msg)
		}
	}
}

// TestDuplicateKeyNamesBothLines: a duplicate section is reported as such,
// with both lines, and not as missing keys of a half-decoded file.
func TestDuplicateKeyNamesBothLines(t *testing.T) {
	ps := problems(t, mustErr(parse(t, minimal+"checkpoint:\n  interval: 6s\n", nil)))
	if len(ps) != 1 || ps[0].Key != "checkpoint" || ps[0].Line != 12 || !strings.Contains(ps[0].Msg, "duplicate key: also set at line 10") {
		t.Fatalf("want one duplicate-key problem for checkpoint at lines 12 and 10, got %v", ps)
	}
	ps = problems(t, mustErr(parse(t, minimal+"  storage: file:///tmp/other\n", nil)))
	if len(ps) != 1 || ps[0].Key != "checkpoint.storage" || ps[0].Line != 12 || !strings.Contains(ps[0].Msg, "line 11") {
		t.Fatalf("want one duplicate-key problem for checkpoint.storage, got %v", ps)
	}
}

// TestEnvListIsSplitAtCommas: docs/deployment.md's
// KAFKA_BROKERS=broker-1:9092,broker-2:9092 with configs/production.yaml
// gives two brokers; so does a bare ${VAR} where a list is expected.
func TestEnvListIsSplitAtCommas(t *testing.T) {
	env := map[string]string{"KAFKA_BROKERS": "broker-1:9092, broker-2:9092,", "TOPICS": "a,b"}
	data, err := os.ReadFile("../../configs/production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parse(t, string(data), env)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"broker-1:9092", "broker-2:9092"}
	if !slices.Equal(cfg.Kafka.Brokers, want) {
		t.Errorf("production.yaml brokers = %q, want %q", cfg.Kafka.Brokers, want)
	}
	yml := strings.Replace(minimal, "brokers: [localhost:9092]", "brokers: ${KAFKA_BROKERS}", 1)
	yml = strings.Replace(yml, "topics: [in]", `topics: ["${TOPICS}", c, "d,e"]`, 1)
	ok := strings.Replace(yml, `, "d,e"]`, "]", 1)
	if cfg, err = parse(t, ok, env); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Kafka.Brokers, want) {
		t.Errorf("bare ${KAFKA_BROKERS}: brokers = %q, want %q", cfg.Kafka.Brokers, want)
	}
	if topics := []string{"a", "b", "c"}; !slices.Equal(cfg.Source.Topics, topics) {
		t.Errorf("topics = %q, want %q", cfg.Source.Topics, topics)
	}
	// Only a whole reference is split: "d,e" written in the file is one
	// (invalid) topic name.
	ps := problems(t, mustErr(parse(t, yml, env)))
	if len(ps) != 1 || ps[0].Key != "source.topics[3]" || !strings.Contains(ps[0].Msg, `"d,e"`) {
		t.Errorf("want one problem for source.topics[3] (\"d,e\"), got %v", ps)
	}
}

// oldTransactionCheck is the check validate made before: the transaction
// timeout had to exceed interval + timeout by 10 %.
func oldTransactionCheck(tx, interval, timeout time.Duration) bool {
	need := interval + timeout
	return tx >= need+need/10
}

// TestTransactionLifetimeBound: the bound a sink transaction must outlive,
// with what the defaults and the example configurations pass.
func TestTransactionLifetimeBound(t *testing.T) {
	cfg := config.Default()
	for _, tc := range []struct {
		interval, timeout, minPause time.Duration
		failures                    int
		want                        time.Duration
	}{
		{10 * time.Second, 3 * time.Minute, 0, 0, 6 * time.Minute},                                        // the defaults
		{10 * time.Minute, time.Minute, 0, 0, 11 * time.Minute},                                           // interval-bound
		{time.Second, 4 * time.Second, 0, 3, 23 * time.Second},                                            // 4 + 4 + 3 × 5
		{10 * time.Second, 3 * time.Minute, time.Second, 2, 12*time.Minute + 21*time.Second},              // production.yaml
		{time.Second, 10 * time.Second, time.Minute, 1, 10*time.Second + 70*time.Second + 70*time.Second}, // min_pause-bound
	} {
		cfg.Checkpoint.Interval, cfg.Checkpoint.Timeout, cfg.Checkpoint.MinPause = tc.interval, tc.timeout, tc.minPause
		cfg.Checkpoint.TolerableFailures = tc.failures
		if got, how := cfg.TransactionLifetime(); got != tc.want {
			t.Errorf("%+v: lifetime %s (%s), want %s", tc, got, how, tc.want)
		}
	}
	cfg = config.Default()
	cfg.Checkpoint.TolerableFailures = 1 << 40
	if got, _ := cfg.TransactionLifetime(); got < 1000*time.Hour {
		t.Errorf("huge tolerable_failures: lifetime %s, want it saturated, not overflowed", got)
	}
}

func TestDefaultsPassTheTransactionBound(t *testing.T) {
	if _, err := parse(t, minimal, nil); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg := config.Default()
	if cfg.Checkpoint.Timeout != 3*time.Minute || cfg.Sink.TransactionTimeout != 15*time.Minute {
		t.Errorf("defaults: checkpoint.timeout %s, sink.transaction_timeout %s", cfg.Checkpoint.Timeout, cfg.Sink.TransactionTimeout)
	}
}

// TestTransactionBoundRefusesWhatTheOldCheckAccepted: issue 7's case
// (interval 1s, timeout 4s, transaction timeout 10s, three tolerated
// failures) passed the old check, and lost output when S3 froze for 11 s.
func TestTransactionBoundRefusesWhatTheOldCheckAccepted(t *testing.T) {
	if !oldTransactionCheck(10*time.Second, time.Second, 4*time.Second) {
		t.Fatal("the old check refuses the case: the test is wrong")
	}
	yml := strings.Replace(minimal, "  topic: out\n", "  topic: out\n  transaction_timeout: 10s\n", 1) +
		"  interval: 1s\n  timeout: 4s\n  tolerable_failures: 3\n"
	ps := problems(t, mustErr(parse(t, yml, nil)))
	if len(ps) != 1 || ps[0].Key != "sink.transaction_timeout" || ps[0].Line != 10 {
		t.Fatalf("want one problem for sink.transaction_timeout on line 10, got %v", ps)
	}
	for _, s := range []string{"= 23s", "plus 10% = 26s", "checkpoint.tolerable_failures (3)", "lower checkpoint.timeout or checkpoint.tolerable_failures",
		"raise sink.transaction_timeout to at least 26s", "transaction.max.timeout.ms"} {
		if !strings.Contains(ps[0].Msg, s) {
			t.Errorf("message lacks %q:\n%s", s, ps[0].Msg)
		}
	}
	// Exactly at the bound plus the margin it passes.
	if _, err := parse(t, strings.Replace(yml, "transaction_timeout: 10s", "transaction_timeout: 26s", 1), nil); err != nil {
		t.Errorf("26s: %v", err)
	}
	if _, err := parse(t, strings.Replace(yml, "transaction_timeout: 10s", "transaction_timeout: 25s", 1), nil); err == nil {
		t.Errorf("25s accepted, want refused")
	}
}
