package config

import "time"

// Restart configures how the processor restarts its job in-process after a
// failure: an exponential delay between attempts, as in Flink's
// exponential-delay restart strategy, and an optional failure-rate limit.
// Permanent errors (bad settings, lost transactions, corrupt checkpoints, a
// zombie, missing topics, refused credentials) are never retried.
type Restart struct {
	// InitialDelay is the pause before the first restart of a series.
	// Default 1s.
	InitialDelay time.Duration `yaml:"initial_delay"`
	// MaxDelay caps the pause. Default 1m.
	MaxDelay time.Duration `yaml:"max_delay"`
	// Multiplier grows the pause after each failure of a series. Default 2.
	Multiplier float64 `yaml:"multiplier"`
	// Jitter varies each pause at random by up to this fraction of it, so
	// that many processors do not retry in step. Default 0.1.
	Jitter float64 `yaml:"jitter"`
	// ResetAfter ends a series: a failure after the job made progress and
	// ran this long is the first of a new series, paused InitialDelay.
	// After failures in a row, /readyz answers ready again once the job
	// makes progress or has run this long. Default 5m.
	ResetAfter time.Duration `yaml:"reset_after"`
	// MaxFailures, when positive, stops the processor once more than this
	// many failures happened within FailureInterval. Default 0: no limit.
	MaxFailures int `yaml:"max_failures"`
	// FailureInterval is the window MaxFailures counts in. Default 10m.
	FailureInterval time.Duration `yaml:"failure_interval"`
}

// DefaultRestart is the restart strategy's default: keep retrying transient
// failures, 1 s, 2 s, 4 s, … up to a minute apart.
func DefaultRestart() Restart {
	return Restart{
		InitialDelay:    time.Second,
		MaxDelay:        time.Minute,
		Multiplier:      2,
		Jitter:          0.1,
		ResetAfter:      5 * time.Minute,
		FailureInterval: 10 * time.Minute,
	}
}

func (c *Config) validateRestart(ps *problems) {
	r := &c.Restart
	if r.InitialDelay <= 0 {
		ps.add("restart.initial_delay", 0, "must be positive, got %s", r.InitialDelay)
	}
	if r.MaxDelay < r.InitialDelay {
		ps.add("restart.max_delay", 0, "must be at least restart.initial_delay (%s), got %s", r.InitialDelay, r.MaxDelay)
	}
	if r.Multiplier < 1 {
		ps.add("restart.multiplier", 0, "must be at least 1, got %g", r.Multiplier)
	}
	if r.Jitter < 0 || r.Jitter > 1 {
		ps.add("restart.jitter", 0, "must be between 0 and 1, got %g", r.Jitter)
	}
	if r.ResetAfter < 0 {
		ps.add("restart.reset_after", 0, "must not be negative, got %s", r.ResetAfter)
	}
	if r.MaxFailures < 0 {
		ps.add("restart.max_failures", 0, "must not be negative (0: no limit), got %d", r.MaxFailures)
	}
	if r.FailureInterval <= 0 {
		ps.add("restart.failure_interval", 0, "must be positive, got %s", r.FailureInterval)
	}
}

// What the sink does with a record Kafka would refuse (sink.on_rejected).
const (
	// OnRejectedDeadLetter writes the record to the dead-letter topic,
	// truncated if it must be, with its provenance.
	OnRejectedDeadLetter = "dead_letter"
	// OnRejectedFail stops the job with an error naming the record.
	OnRejectedFail = "fail"
)
