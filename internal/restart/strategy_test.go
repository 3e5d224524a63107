package restart_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/restart"
)

// clock is a fake clock for the strategy: no test sleeps.
type clock struct{ now time.Time }

func (c *clock) advance(d time.Duration) time.Time { c.now = c.now.Add(d); return c.now }

func cfg() config.Restart {
	r := config.DefaultRestart()
	r.Jitter = 0
	return r
}

func TestExponentialDelayCapped(t *testing.T) {
	s := restart.New(cfg(), nil)
	c := &clock{now: time.Unix(1000, 0)}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, w := range want {
		d, err := s.Failed(c.advance(time.Second), restart.Attempt{})
		if err != nil {
			t.Fatal(err)
		}
		if d != w*time.Second {
			t.Errorf("failure %d: delay %s, want %s", i+1, d, w*time.Second)
		}
		if s.InARow() != i+1 {
			t.Errorf("failure %d: InARow %d", i+1, s.InARow())
		}
	}
}

func TestMultiplier(t *testing.T) {
	r := cfg()
	r.InitialDelay, r.Multiplier, r.MaxDelay = 100*time.Millisecond, 1.5, time.Second
	s := restart.New(r, nil)
	c := &clock{}
	want := []time.Duration{100, 150, 225, 337, 506, 759, 1000}
	for i, w := range want {
		d, _ := s.Failed(c.advance(time.Second), restart.Attempt{})
		if d.Truncate(time.Millisecond) != w*time.Millisecond {
			t.Errorf("failure %d: delay %s, want %dms", i+1, d, w)
		}
	}
}

// TestResetAfterHealthyRunning: only an attempt that made progress and ran
// reset_after starts a new series; a short one, or a long one without
// progress (a checkpoint that made no progress), does not.
func TestResetAfterHealthyRunning(t *testing.T) {
	s := restart.New(cfg(), nil)
	c := &clock{}
	for range 4 {
		_, _ = s.Failed(c.advance(time.Second), restart.Attempt{Progress: true, Ran: time.Second})
	}
	if s.InARow() != 4 {
		t.Fatalf("InARow = %d after 4 short attempts", s.InARow())
	}
	if d, _ := s.Failed(c.advance(time.Hour), restart.Attempt{Ran: time.Hour}); d != 16*time.Second || s.InARow() != 5 {
		t.Errorf("after a long attempt without progress: delay %s, InARow %d; want 16s, 5", d, s.InARow())
	}
	if d, _ := s.Failed(c.advance(time.Hour), restart.Attempt{Progress: true, Ran: 5 * time.Minute}); d != time.Second || s.InARow() != 1 {
		t.Errorf("after a healthy attempt: delay %s, InARow %d; want 1s, 1", d, s.InARow())
	}
	if !s.Healthy(restart.Attempt{Progress: true, Ran: 5 * time.Minute}) || s.Healthy(restart.Attempt{Progress: true, Ran: time.Minute}) {
		t.Error("Healthy disagrees with reset_after")
	}
}

func TestJitter(t *testing.T) {
	r := cfg()
	r.Jitter = 0.1
	for _, tc := range []struct {
		rand float64
		want time.Duration
	}{{0, 900 * time.Millisecond}, {0.5, time.Second}, {0.999999, 1100 * time.Millisecond}} {
		s := restart.New(r, func() float64 { return tc.rand })
		d, _ := s.Failed(time.Unix(0, 0), restart.Attempt{})
		if d.Round(time.Millisecond) != tc.want {
			t.Errorf("rand %g: delay %s, want %s", tc.rand, d, tc.want)
		}
	}
	// At the cap the jitter still applies.
	r.MaxDelay = time.Second
	s := restart.New(r, func() float64 { return 0 })
	for range 5 {
		_, _ = s.Failed(time.Unix(0, 0), restart.Attempt{})
	}
	if d, _ := s.Failed(time.Unix(0, 0), restart.Attempt{}); d != 900*time.Millisecond {
		t.Errorf("capped delay with jitter %s, want 900ms", d)
	}
}

// TestFailureRate: more than max_failures within failure_interval stops;
// failures older than the interval do not count.
func TestFailureRate(t *testing.T) {
	r := cfg()
	r.MaxFailures, r.FailureInterval = 3, time.Minute
	s := restart.New(r, nil)
	c := &clock{}
	for i := range 3 {
		if _, err := s.Failed(c.advance(10*time.Second), restart.Attempt{}); err != nil {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	// 40 s later the first failure (at 10 s) has left the window.
	if _, err := s.Failed(c.advance(40*time.Second), restart.Attempt{}); err != nil {
		t.Fatalf("4th failure, 3 within the minute: %v", err)
	}
	_, err := s.Failed(c.advance(time.Second), restart.Attempt{})
	if !errors.Is(err, restart.ErrFailureRate) {
		t.Fatalf("5th failure, 4 within the minute: %v, want ErrFailureRate", err)
	}
	t.Log(err)
	// Unlimited by default.
	s = restart.New(cfg(), nil)
	for range 1000 {
		if _, err := s.Failed(c.advance(time.Millisecond), restart.Attempt{}); err != nil {
			t.Fatal(err)
		}
	}
}
