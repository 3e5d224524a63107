package runner

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/sink"
	"github.com/tidemark/tidemark/source"
)

// passthrough forwards every source record to the sink topic, keeping key,
// value, headers and timestamp. Under exactly_once, each polled batch and
// its input offsets commit in one Kafka transaction; under at_least_once,
// offsets are committed after the batch is acknowledged.
type passthrough struct {
	cfg  *config.Config
	log  *zap.Logger
	sess *kgo.GroupTransactSession // exactly_once
	cl   *kgo.Client               // the client in either mode

	in, out, txns atomic.Int64
}

func newPassthrough(cfg *config.Config, base []kgo.Opt, log *zap.Logger) (*passthrough, error) {
	consumer, err := source.ConsumerOptions(cfg)
	if err != nil {
		return nil, err
	}
	opts := append(append(append([]kgo.Opt{}, base...), consumer...), sink.ProducerOptions(cfg, 0)...)
	p := &passthrough{cfg: cfg, log: log.Named("pipeline")}
	if cfg.Sink.Delivery == config.ExactlyOnce {
		p.sess, err = kgo.NewGroupTransactSession(opts...)
		if err == nil {
			p.cl = p.sess.Client()
		}
	} else {
		p.cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline client: %w", err)
	}
	return p, nil
}

func (p *passthrough) close() {
	if p.sess != nil {
		p.sess.Close()
		return
	}
	p.cl.Close()
}

func (p *passthrough) poll(ctx context.Context) (kgo.Fetches, error) {
	var fs kgo.Fetches
	if p.sess != nil {
		fs = p.sess.PollFetches(ctx)
	} else {
		fs = p.cl.PollFetches(ctx)
	}
	if ctx.Err() != nil || fs.IsClientClosed() {
		return nil, nil
	}
	var errs []error
	fs.EachError(func(topic string, part int32, err error) {
		if !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("consume %s[%d]: %w", topic, part, err))
		}
	})
	return fs, errors.Join(errs...)
}

func (p *passthrough) run(ctx context.Context) error {
	for {
		fs, err := p.poll(ctx)
		if err != nil {
			return err
		}
		if fs == nil {
			return nil
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		p.in.Add(int64(len(recs)))
		out := make([]*kgo.Record, len(recs))
		for i, r := range recs {
			out[i] = &kgo.Record{Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}
		}
		if p.sess != nil {
			err = p.forwardTxn(ctx, out)
		} else {
			err = p.forward(ctx, out)
		}
		if err != nil {
			return err
		}
	}
}

// forwardTxn writes one batch in a transaction that also commits the
// consumed offsets; if the transaction aborts (a rebalance, a failed
// produce), the session rewinds and the batch is read again.
func (p *passthrough) forwardTxn(ctx context.Context, out []*kgo.Record) error {
	if err := p.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	res := p.sess.ProduceSync(ctx, out...)
	// End runs even after ctx is cancelled, so a clean shutdown finishes or
	// aborts its open transaction instead of leaving it to time out.
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	committed, err := p.sess.End(endCtx, kgo.TryCommit)
	if err != nil {
		return fmt.Errorf("end transaction: %w", err)
	}
	if committed {
		p.out.Add(int64(len(out)))
		p.txns.Add(1)
	} else if perr := res.FirstErr(); perr != nil && ctx.Err() == nil {
		p.log.Warn("transaction aborted, batch will be read again", zap.Error(perr))
	}
	return nil
}

// forward writes one batch, waits for its acknowledgement, then commits the
// consumed offsets.
func (p *passthrough) forward(ctx context.Context, out []*kgo.Record) error {
	if err := p.cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("produce to %s: %w", p.cfg.Sink.Topic, err)
	}
	p.out.Add(int64(len(out)))
	if err := p.cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	return nil
}

// report logs throughput and the sink topic's size every interval.
func (p *passthrough) report(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	adm := kadm.NewClient(p.cl)
	var lastIn, lastOut int64
	for {
		select {
		case <-ctx.Done():
			p.log.Info("pipeline stopped", zap.Int64("records_in", p.in.Load()), zap.Int64("records_out", p.out.Load()))
			return nil
		case <-t.C:
		}
		in, out := p.in.Load(), p.out.Load()
		fields := []zap.Field{
			zap.Int64("records_in", in), zap.Int64("records_out", out),
			zap.Float64("in_per_s", float64(in-lastIn)/every.Seconds()),
			zap.Float64("out_per_s", float64(out-lastOut)/every.Seconds()),
		}
		if p.sess != nil {
			fields = append(fields, zap.Int64("transactions_committed", p.txns.Load()))
		}
		lctx, cancel := context.WithTimeout(ctx, every)
		ends, err := adm.ListEndOffsets(lctx, p.cfg.Sink.Topic)
		cancel()
		if err == nil && ends.Error() == nil {
			var total int64
			ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
			fields = append(fields, zap.Int64(p.cfg.Sink.Topic+"_end_offsets", total))
		}
		p.log.Info("progress", fields...)
		lastIn, lastOut = in, out
	}
}
