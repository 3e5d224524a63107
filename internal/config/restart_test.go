package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/config"
)

func TestRestartDefaultsAndParse(t *testing.T) {
	cfg, err := parse(t, minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Restart != config.DefaultRestart() || cfg.Sink.OnRejected != config.OnRejectedDeadLetter {
		t.Errorf("defaults: restart %+v, sink.on_rejected %q", cfg.Restart, cfg.Sink.OnRejected)
	}
	cfg, err = parse(t, strings.Replace(minimal, "  topic: out\n", "  topic: out\n  on_rejected: fail\n", 1)+`restart:
  initial_delay: 500ms
  max_delay: 30s
  multiplier: 1.5
  jitter: 0.2
  reset_after: 1h
  max_failures: 10
  failure_interval: 5m
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Restart{InitialDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second, Multiplier: 1.5, Jitter: 0.2,
		ResetAfter: time.Hour, MaxFailures: 10, FailureInterval: 5 * time.Minute}
	if cfg.Restart != want || cfg.Sink.OnRejected != config.OnRejectedFail {
		t.Errorf("parsed restart %+v, sink.on_rejected %q", cfg.Restart, cfg.Sink.OnRejected)
	}
}

func TestRestartProblems(t *testing.T) {
	_, err := parse(t, strings.Replace(minimal, "  topic: out\n", "  topic: out\n  on_rejected: drop\n", 1)+`restart:
  initial_delay: 0s
  max_delay: -1s
  multiplier: 0.5
  jitter: 2
  reset_after: -1m
  max_failures: -1
  failure_interval: 0s
`, nil)
	got := map[string]string{}
	for _, p := range problems(t, err) {
		got[p.Key] = p.String()
	}
	for _, key := range []string{"sink.on_rejected", "restart.initial_delay", "restart.max_delay", "restart.multiplier",
		"restart.jitter", "restart.reset_after", "restart.max_failures", "restart.failure_interval"} {
		if got[key] == "" {
			t.Errorf("no problem reported for %s; got %v", key, got)
		} else if !strings.Contains(got[key], "line ") {
			t.Errorf("%s: no line in %q", key, got[key])
		}
	}
}
