package source

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/zap"
)

// groupCommitter commits completed checkpoints' positions to the consumer
// group in the background, off the source task's goroutine: the offsets
// are for lag monitoring only (recovery never reads them), so the task
// need not stop reading for the broker's answer. At most one commit is in
// flight; positions that complete meanwhile replace each other, and only
// the newest is committed next.
type groupCommitter struct {
	adm   *kadm.Client
	group string
	log   *zap.Logger

	mu      sync.Mutex
	running bool
	next    kadm.Offsets // to commit once the commit in flight is done
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
}

// commitTimeout bounds one background commit; closeGrace is how long
// Close lets the commits in flight (the final checkpoint's) finish.
const (
	commitTimeout = 10 * time.Second
	closeGrace    = 5 * time.Second
)

func newGroupCommitter(adm *kadm.Client, group string, log *zap.Logger) *groupCommitter {
	ctx, cancel := context.WithCancel(context.Background())
	return &groupCommitter{adm: adm, group: group, log: log, ctx: ctx, cancel: cancel}
}

// commit queues os and starts the committing goroutine if none runs.
func (g *groupCommitter) commit(os kadm.Offsets) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next = os
	if g.running {
		return
	}
	g.running = true
	g.done = make(chan struct{})
	go g.run(g.done)
}

// run commits the queued offsets until none are left.
func (g *groupCommitter) run(done chan struct{}) {
	defer close(done)
	for {
		g.mu.Lock()
		os := g.next
		g.next = nil
		if os == nil || g.ctx.Err() != nil {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(g.ctx, commitTimeout)
		resp, err := g.adm.CommitOffsets(ctx, g.group, os)
		cancel()
		if err == nil {
			err = resp.Error()
		}
		if err != nil && g.ctx.Err() == nil {
			// Offsets in the group are for monitoring only; a failed
			// commit is logged, never fatal, and the next one covers it.
			g.log.Warn("commit source positions to the consumer group (monitoring only; the next checkpoint retries)",
				zap.String("group", g.group), zap.Error(err))
		}
	}
}

// wait waits for the commits queued so far, at most until ctx ends.
func (g *groupCommitter) wait(ctx context.Context) error {
	g.mu.Lock()
	done := g.done
	g.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close lets the commits in flight finish for up to closeGrace, then
// cancels them, and returns once the goroutine has ended.
func (g *groupCommitter) close() {
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	if g.wait(ctx) != nil {
		g.cancel()
		_ = g.wait(context.Background())
	}
	g.cancel()
}
