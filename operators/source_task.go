package operators

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"go.uber.org/zap"
)

// sourceTask runs one Source: it polls records, routes them through the
// key exchange and, when the coordinator triggers checkpoint n, records its
// positions between two polls and emits barrier n on every output.
type sourceTask struct {
	id   TaskID
	src  Source
	out  *exchange
	ckpt Checkpointer
	log  *zap.Logger
	mail *mailbox

	mu         sync.Mutex
	cancelPoll context.CancelFunc // wakes a blocked Poll; nil outside Poll

	ops       []Operator // stateless operators run before the exchange
	opNames   []string
	bufs      []collector
	rejects   []DeadLetter
	watermark int64
	drained   bool // the final barrier is out: read nothing more
	notified  *notifyTracker
}

// wake interrupts a blocked Poll so the task sees its mailbox.
func (t *sourceTask) wake() {
	t.mu.Lock()
	if t.cancelPoll != nil {
		t.cancelPoll()
	}
	t.mu.Unlock()
}

func (t *sourceTask) run(ctx context.Context) error {
	t.watermark = math.MinInt64
	for {
		if err := t.handleMail(ctx); err != nil {
			return err
		}
		if t.drained {
			select {
			case <-t.mail.ready:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		pctx, cancel := context.WithCancel(ctx)
		t.mu.Lock()
		t.cancelPoll = cancel
		t.mu.Unlock()
		// A message that arrived before cancelPoll was set must not wait
		// for the next record.
		if t.mail.pending() {
			cancel()
		}
		recs, wm, err := t.src.Poll(pctx)
		t.mu.Lock()
		t.cancelPoll = nil
		t.mu.Unlock()
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: poll: %w", t.id, err)
		}
		if len(recs) > 0 {
			if err := t.process(ctx, recs); err != nil {
				return err
			}
		}
		if wm > t.watermark {
			t.watermark = wm
			if err := t.out.broadcast(ctx, element{watermark: wm, hasWM: true}); err != nil {
				return ignoreCanceled(err)
			}
		}
	}
}

func (t *sourceTask) handleMail(ctx context.Context) error {
	for _, c := range t.mail.take() {
		switch {
		case c.trigger > 0:
			pos := t.src.Positions()
			t.ckpt.SourceSnapshot(SourceSnapshot{Task: t.id, CheckpointID: c.trigger, Positions: pos, Watermark: t.watermark})
			if err := t.out.broadcast(ctx, element{barrier: c.trigger}); err != nil {
				return ignoreCanceled(err)
			}
			if c.final {
				t.drained = true
				t.log.Info("source stopped for the final checkpoint", zap.Int64("checkpoint", c.trigger))
			}
		case c.complete > 0:
			if err := t.src.NotifyCheckpointComplete(ctx, c.complete, c.positions); err != nil {
				// Offsets in the group are for monitoring only; a failed
				// commit is logged, never fatal.
				t.log.Warn("commit source positions", zap.Int64("checkpoint", c.complete), zap.Error(err))
			}
			t.notified.report(t.id, c.complete)
		}
	}
	return nil
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// process runs recs through the task's operators and routes the result,
// and whatever the operators rejected, to the keyed tasks.
func (t *sourceTask) process(ctx context.Context, recs []Record) error {
	for k, op := range t.ops {
		buf := &t.bufs[k]
		buf.recs = buf.recs[:0]
		if err := op.Process(ctx, recs, buf); err != nil {
			return fmt.Errorf("%s: %s: %w", t.id, t.opNames[k], err)
		}
		recs = buf.recs
	}
	if len(recs) > 0 {
		if len(t.ops) > 0 {
			// The buffers are reused; the keyed tasks own what they get.
			recs = append([]Record(nil), recs...)
		}
		if err := t.out.send(ctx, recs); err != nil {
			return ignoreCanceled(err)
		}
	}
	if len(t.rejects) > 0 {
		dls := t.rejects
		t.rejects = nil
		if err := t.out.put(ctx, t.out.taskOf(dls[0].Record.Key), element{deadLetters: dls}); err != nil {
			return ignoreCanceled(err)
		}
	}
	return nil
}

func (t *sourceTask) reject(name string) func(Record, error) {
	return func(r Record, reason error) {
		t.rejects = append(t.rejects, DeadLetter{Record: r, Operator: name, Reason: reason.Error()})
	}
}
