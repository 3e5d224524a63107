package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
)

// Event is one generated sample event: a user's action on a page.
type Event struct {
	Seq    int64  `json:"seq"`
	User   string `json:"user"`
	Action string `json:"action"`
	Page   string `json:"page"`
	TimeMs int64  `json:"ts"`
}

var (
	actions = []string{"view", "click", "scroll", "purchase"}
	pages   = []string{"/", "/pricing", "/docs", "/blog", "/signup"}
	// weights are the pages' shares of events, in percent: some pages are
	// more popular than others, so that a top-N has something to rank.
	weights = []int64{38, 24, 18, 12, 8}
)

// page is the seq-th event's page: a deterministic pseudo-random draw
// by weights.
func page(seq int64) string {
	h := uint64(seq) * 0x9E3779B97F4A7C15 // Fibonacci hashing spreads consecutive seqs
	n := int64((h >> 33) % 100)
	for i, w := range weights {
		if n < w {
			return pages[i]
		}
		n -= w
	}
	return pages[len(pages)-1]
}

// MakeEvent returns the seq-th sample event; the same seq always gives the
// same user, action and page. Users and actions take turns; pages are
// drawn by popularity (weights).
func MakeEvent(seq int64, keys int, now time.Time) Event {
	return Event{
		Seq:    seq,
		User:   fmt.Sprintf("user-%03d", seq*7919%int64(keys)),
		Action: actions[seq%int64(len(actions))],
		Page:   page(seq),
		TimeMs: now.UnixMilli(),
	}
}

// Seeder writes sample events, keyed by user, round the source topics.
type Seeder struct {
	Client *kgo.Client
	Topics []string
	Seed   config.Seed
	Log    *zap.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Start is the first sequence number; a restart continues after the
	// events already in the topics.
	Start int64

	next int64
}

// Fill synchronously writes Seed.Records events.
func (s *Seeder) Fill(ctx context.Context) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	s.next = s.Start
	const batch = 500
	for left := s.Seed.Records; left > 0; left -= batch {
		if err := s.produce(ctx, min(left, batch)); err != nil {
			return err
		}
	}
	s.Log.Info("seeded sample events", zap.Strings("topics", s.Topics), zap.Int("records", s.Seed.Records))
	return nil
}

// Run writes Seed.RatePerSecond events a second until ctx is done; it
// returns nil then.
func (s *Seeder) Run(ctx context.Context) error {
	if s.Seed.RatePerSecond == 0 {
		return nil
	}
	const tick = 100 * time.Millisecond
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	perTick, carry := s.Seed.RatePerSecond/10, s.Seed.RatePerSecond%10
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		n := perTick
		if i%10 < carry {
			n++
		}
		if err := s.produce(ctx, n); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (s *Seeder) produce(ctx context.Context, n int) error {
	recs := make([]*kgo.Record, 0, n)
	for range n {
		ev := MakeEvent(s.next, s.Seed.Keys, s.Now())
		value, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode sample event: %w", err)
		}
		if m := int64(s.Seed.MalformedEvery); m > 0 && s.next%m == m-1 {
			value = fmt.Appendf(nil, "malformed sample event %d", s.next)
		}
		recs = append(recs, &kgo.Record{
			Topic: s.Topics[s.next%int64(len(s.Topics))],
			Key:   []byte(ev.User),
			Value: value,
		})
		s.next++
	}
	if err := s.Client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("seed sample events: %w", err)
	}
	return nil
}
