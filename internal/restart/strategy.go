package restart

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tidemark/tidemark/internal/config"
)

// ErrFailureRate: more failures happened within restart.failure_interval
// than restart.max_failures allows.
var ErrFailureRate = errors.New("restart: too many failures")

// Attempt is how a failed attempt went.
type Attempt struct {
	// Progress says the attempt completed a checkpoint that advanced the
	// input positions beyond the restored checkpoint's, or that holds
	// output.
	Progress bool
	// Ran is how long the attempt processed records (0 if it failed
	// before it restored).
	Ran time.Duration
}

// Strategy is the exponential-delay restart strategy of config.Restart.
// Failures form series: each failure of a series waits Multiplier times
// longer than the one before, from InitialDelay up to MaxDelay; a failure
// of an attempt that made progress and ran ResetAfter or longer starts a
// new series. It is not safe for concurrent use.
type Strategy struct {
	cfg      config.Restart
	rand     func() float64
	inARow   int
	failures []time.Time // within cfg.FailureInterval, oldest first
}

// New returns a strategy for cfg; rand returns numbers in [0, 1) for the
// jitter (nil: no jitter).
func New(cfg config.Restart, rand func() float64) *Strategy {
	if rand == nil {
		rand = func() float64 { return 0.5 }
	}
	return &Strategy{cfg: cfg, rand: rand}
}

// Failed records a failure at now of an attempt that went as a says, and
// returns how long to wait before the next attempt, or an error wrapping
// ErrFailureRate if the processor must stop.
func (s *Strategy) Failed(now time.Time, a Attempt) (time.Duration, error) {
	if s.Healthy(a) {
		s.inARow = 0
	}
	s.inARow++
	if w := s.cfg.FailureInterval; w > 0 {
		keep := s.failures[:0]
		for _, t := range s.failures {
			if now.Sub(t) < w {
				keep = append(keep, t)
			}
		}
		s.failures = append(keep, now)
		if n := s.cfg.MaxFailures; n > 0 && len(s.failures) > n {
			return 0, fmt.Errorf("%w: %d failures within %s, more than restart.max_failures (%d) allows",
				ErrFailureRate, len(s.failures), w, n)
		}
	}
	return s.delay(), nil
}

// Healthy says whether an attempt that went as a ends the series of
// failures before it: it made progress and ran ResetAfter or longer.
func (s *Strategy) Healthy(a Attempt) bool {
	return a.Progress && a.Ran >= s.cfg.ResetAfter
}

// InARow is the number of failures in the current series.
func (s *Strategy) InARow() int { return s.inARow }

// delay is the pause after the inARow-th failure of a series.
func (s *Strategy) delay() time.Duration {
	d := float64(s.cfg.InitialDelay) * math.Pow(max(s.cfg.Multiplier, 1), float64(s.inARow-1))
	d = min(d, float64(s.cfg.MaxDelay))
	if j := s.cfg.Jitter; j > 0 {
		d *= 1 + j*(2*s.rand()-1)
	}
	return time.Duration(max(d, 0))
}
