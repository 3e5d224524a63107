package sink

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
)

// LostError says that pending transactions of the restored checkpoint are
// gone: the broker aborted them (their transaction.timeout.ms passed) or a
// newer producer fenced them. Their records are lost unless the job
// restores an older checkpoint: when every pending transaction is lost
// and none committed, Fallback names the checkpoint before the oldest of
// them (0 if there is none), whose own transactions all committed.
type LostError struct {
	Checkpoint int64
	Lost       []operators.Transaction
	Committed  []operators.Transaction
	Fallback   int64
}

func (e *LostError) Error() string {
	ids := make([]string, len(e.Lost))
	for i, tx := range e.Lost {
		ids[i] = fmt.Sprintf("%s (task %d, pre-committed on checkpoint %d, producer %d epoch %d)", tx.TransactionalID, tx.Task, tx.Checkpoint, tx.ProducerID, tx.ProducerEpoch)
	}
	msg := fmt.Sprintf("sink: %d pending transaction(s) of checkpoint %d were aborted by the broker before they could be committed: %s; the records they held were lost",
		len(e.Lost), e.Checkpoint, strings.Join(ids, ", "))
	if len(e.Committed) > 0 {
		msg += fmt.Sprintf(", and %d other transaction(s) of the checkpoint already committed, so no older checkpoint can replace it without duplicating output", len(e.Committed))
	}
	return msg
}

// Settle resolves, before any sink opens, what a previous run left: it
// commits the pending transactions of the restored checkpoint (pending;
// nil for a fresh start), resuming them with the producer id and epoch they
// were pre-committed with, unless committed says they are known to be
// committed already; then it aborts every other transaction of the
// transactional id prefix and fences any zombie still using one. Both
// steps are idempotent. If pending transactions turn out to be lost it
// returns a *LostError and commits nothing more.
func Settle(ctx context.Context, cfg *config.Config, base []kgo.Opt, checkpoint int64, pending []operators.Transaction, committed bool, log *zap.Logger) error {
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return fmt.Errorf("sink: recovery client: %w", err)
	}
	defer cl.Close()
	if err := checkTimeout(ctx, cfg, cl); err != nil {
		return err
	}
	if len(pending) > 0 && !committed {
		if err := resume(ctx, base, checkpoint, pending, log); err != nil {
			return err
		}
	}
	// The ids of the checkpoint's transactions are left alone: they hold
	// no open transaction now, and initialising them would bump their
	// epoch, so that a second recovery of the same checkpoint (after a
	// crash during this one) could no longer tell "committed" from "lost".
	// The sink does not reuse them until a newer checkpoint completes.
	keep := map[string]bool{}
	for _, tx := range pending {
		keep[tx.TransactionalID] = true
	}
	return abortLingering(ctx, cfg, cl, keep, log)
}

// resume commits pending transactions in checkpoint order.
func resume(ctx context.Context, base []kgo.Opt, checkpoint int64, pending []operators.Transaction, log *zap.Logger) error {
	pending = append([]operators.Transaction(nil), pending...)
	sort.SliceStable(pending, func(i, j int) bool { return pending[i].Checkpoint < pending[j].Checkpoint })
	clients := map[bool]*kgo.Client{}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	lost := &LostError{Checkpoint: checkpoint}
	for _, tx := range pending {
		v5 := tx.TxnVersion >= 2
		cl := clients[v5]
		if cl == nil {
			opts := append([]kgo.Opt{}, base...)
			if !v5 {
				// Brokers may advertise EndTxn v5 without transaction
				// version 2; a raw request negotiates the highest.
				vs := kversion.Stable()
				vs.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
				opts = append(opts, kgo.MaxVersions(vs))
			}
			var err error
			if cl, err = kgo.NewClient(opts...); err != nil {
				return fmt.Errorf("sink: recovery client: %w", err)
			}
			clients[v5] = cl
		}
		err := retry(ctx, func() error {
			req := kmsg.NewPtrEndTxnRequest()
			req.TransactionalID = tx.TransactionalID
			req.ProducerID = tx.ProducerID
			req.ProducerEpoch = tx.ProducerEpoch
			req.Commit = true
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			return kerr.ErrorForCode(resp.ErrorCode)
		})
		switch {
		case err == nil:
			lost.Committed = append(lost.Committed, tx)
			log.Info("pending transaction committed", zap.String("transactional_id", tx.TransactionalID), zap.Int64("checkpoint", tx.Checkpoint))
		case errors.Is(err, kerr.InvalidTxnState), errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch),
			errors.Is(err, kerr.InvalidProducerIDMapping), errors.Is(err, kerr.TransactionalIDNotFound):
			lost.Lost = append(lost.Lost, tx)
			log.Error("pending transaction lost", zap.String("transactional_id", tx.TransactionalID), zap.Int64("checkpoint", tx.Checkpoint), zap.Error(err))
			if len(lost.Committed) > 0 {
				return lost // mixed: nothing can make it whole
			}
		default:
			return fmt.Errorf("sink: commit pending transaction %s of checkpoint %d: %w", tx.TransactionalID, checkpoint, err)
		}
	}
	if len(lost.Lost) == 0 {
		return nil
	}
	if len(lost.Committed) == 0 {
		lost.Fallback = pending[0].After
		for _, tx := range pending {
			lost.Fallback = min(lost.Fallback, tx.After)
		}
	}
	return lost
}

// abortLingering aborts every open transaction of the prefix (and fences
// its producer) with InitProducerId, which ends a dangling transaction.
func abortLingering(ctx context.Context, cfg *config.Config, cl *kgo.Client, keep map[string]bool, log *zap.Logger) error {
	ids := map[string]bool{}
	for task := range cfg.Job.Parallelism {
		for s := range PoolSize {
			ids[TransactionalID(cfg, task, s)] = true
		}
	}
	listed, err := kadm.NewClient(cl).ListTransactions(ctx, nil, nil)
	if err != nil && len(listed) == 0 {
		log.Debug("list transactions failed; aborting the configured pool only", zap.Error(err))
	}
	prefix := cfg.TxnIDPrefix() + "-"
	for id := range listed {
		if strings.HasPrefix(id, prefix) {
			ids[id] = true
		}
	}
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		if !keep[id] {
			sorted = append(sorted, id)
		}
	}
	sort.Strings(sorted)
	for _, id := range sorted {
		err := retry(ctx, func() error {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionalID = &id
			req.TransactionTimeoutMillis = int32(cfg.Sink.TransactionTimeout / time.Millisecond)
			req.ProducerID, req.ProducerEpoch = -1, -1
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			return kerr.ErrorForCode(resp.ErrorCode)
		})
		if err != nil {
			return fmt.Errorf("sink: abort lingering transactions of %s: %w", id, err)
		}
	}
	log.Info("lingering transactions aborted", zap.Int("transactional_ids", len(sorted)))
	return nil
}

// retry runs f until it succeeds, fails with a non-retriable error, or
// about a minute passes.
func retry(ctx context.Context, f func() error) error {
	backoff := 50 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil || !kerr.IsRetriable(err) && !errors.Is(err, kerr.ConcurrentTransactions) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, time.Second)
	}
}

// TxnVersion returns the cluster's finalized transaction.version feature
// (0 if it has none).
func TxnVersion(ctx context.Context, cl *kgo.Client) (int16, error) {
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "tidemark", "1"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("sink: api versions: %w", err)
	}
	for _, f := range resp.FinalizedFeatures {
		if f.Name == "transaction.version" {
			return f.MaxVersionLevel, nil
		}
	}
	return 0, nil
}

// checkTimeout refuses a sink.transaction_timeout above the broker's
// transaction.max.timeout.ms, when the broker says what that is.
func checkTimeout(ctx context.Context, cfg *config.Config, cl *kgo.Client) error {
	rcs, err := kadm.NewClient(cl).DescribeBrokerConfigs(ctx)
	if err != nil {
		return nil // not every broker answers; the producer's init will fail clearly
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key != "transaction.max.timeout.ms" || c.Value == nil {
				continue
			}
			var ms int64
			if _, err := fmt.Sscan(*c.Value, &ms); err == nil && cfg.Sink.TransactionTimeout > time.Duration(ms)*time.Millisecond {
				return fmt.Errorf("%w: sink.transaction_timeout %s exceeds the broker's transaction.max.timeout.ms (%d ms): lower it, or raise the broker's", ErrConfig, cfg.Sink.TransactionTimeout, ms)
			}
		}
	}
	return nil
}
