package sink

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
	"github.com/tidemark/tidemark/internal/crashpoint"
	"github.com/tidemark/tidemark/operators"
)

// Pool is the set of transactional ids the tasks of one sink-bearing
// stage may have used: <Prefix>-<Stage>-<task>-<slot> (<Prefix>-<task>-<slot>
// for the legacy stage) for task in [0, Tasks) and slot in [0, Slots).
// Checkpoints record the pools they were taken with, so that recovery after
// a change of prefix, stages or parallelism still finds every id a previous
// run may have left a transaction on.
type Pool struct {
	Prefix string `json:"transactional_id_prefix"`
	// Stage is the stage; "" (or LegacyStage) for the legacy form.
	Stage string `json:"stage,omitempty"`
	Tasks int    `json:"tasks"`
	Slots int    `json:"pool_size"`
}

// ConfiguredPool is the pool cfg's single-chain sink uses (the legacy
// stage).
func ConfiguredPool(cfg *config.Config) Pool {
	return Pool{Prefix: cfg.TxnIDPrefix(), Tasks: cfg.Job.Parallelism, Slots: ConfiguredPoolSize(cfg)}
}

// StagePools are the pools of a job whose sink-bearing stages are stages,
// each run by tasks tasks with slots ids each (at least PoolSize), with
// transactional id prefix prefix.
func StagePools(prefix string, stages []string, tasks, slots int) []Pool {
	out := make([]Pool, len(stages))
	for i, st := range stages {
		out[i] = Pool{Prefix: prefix, Stage: idStage(st), Tasks: tasks, Slots: max(slots, PoolSize)}
	}
	return out
}

// IDs lists every id of the pool.
func (p Pool) IDs() []string {
	ids := make([]string, 0, p.Tasks*p.Slots)
	for task := range p.Tasks {
		for s := range p.Slots {
			ids = append(ids, StageTransactionalID(p.Prefix, p.Stage, task, s))
		}
	}
	return ids
}

// Owns reports whether id has the exact form of an id of the pool's
// prefix and stage, <prefix>-<stage>-<task>-<slot> (<prefix>-<task>-<slot>
// for the legacy stage) with decimal task and slot, whatever the task
// count and pool size (a run with other settings may have used more):
// ids of another job whose prefix merely starts with this one's (job
// "clicks" and job "clicks-v2"), and ids of another stage, never match.
func (p Pool) Owns(id string) bool {
	head := p.Prefix + "-"
	if st := idStage(p.Stage); st != "" {
		head = p.Prefix + "/" + st + "/"
	}
	rest, ok := strings.CutPrefix(id, head)
	if !ok {
		return false
	}
	return idSuffix.MatchString(rest)
}

var idSuffix = regexp.MustCompile(`^(0|[1-9][0-9]{0,5})-(0|[1-9][0-9]{0,5})$`)

// Verdict is what recovery found of one pending transaction.
type Verdict int

// Verdicts of Examine.
const (
	// Committable: the transaction is still open under the producer id and
	// epoch it was pre-committed with; a resume-commit will commit it.
	Committable Verdict = iota + 1
	// Committed: it committed already (before the crash, or by an earlier
	// recovery).
	Committed
	// Lost: it was aborted (the broker's transaction timeout, or a
	// recovery that chose an older checkpoint) or fenced; its records are
	// gone.
	Lost
)

func (v Verdict) String() string {
	switch v {
	case Committable:
		return "committable"
	case Committed:
		return "committed"
	case Lost:
		return "lost"
	}
	return "unknown"
}

// Examined is a pending transaction with what recovery found of it.
type Examined struct {
	operators.Transaction
	Verdict Verdict
	// Why says how the verdict was reached (broker state, error).
	Why string
	// AtRisk: committable, but open so long (by the broker's clock) that
	// the broker may abort it for its timeout before a commit gets there.
	AtRisk bool
}

// Recovery is what Settle needs to know of the restore.
type Recovery struct {
	// Newest is the id of the newest complete checkpoint (0: none), and
	// Pending its pending transactions. Whatever checkpoint is restored,
	// Newest's transactions decide what output is already committed: every
	// older checkpoint's transactions either committed before Newest was
	// taken or are pending in it too.
	Newest  int64
	Pending []operators.Transaction
	// Target is the checkpoint to restore: Newest, or one the user named
	// (Named). 0 restores nothing.
	Target int64
	Named  bool
	// Fallbacks are the older complete checkpoints (ids below Newest) that
	// may replace Newest when some of its transactions are lost, newest
	// first. Only used when Target is not Named.
	Fallbacks []int64
	// Listed are the pending transactions the older retained checkpoints
	// list. One that Newest no longer lists committed before Newest was
	// taken (or was aborted by an earlier recovery): its records must not
	// be written again, so no fallback goes behind it.
	Listed []operators.Transaction
	// Pools are the transactional id pools previous runs used (from the
	// checkpoints' metadata), besides the configured one.
	Pools []Pool
	// AcceptLoss restores Target even if transactions whose records precede
	// it are lost, instead of failing with a *LostError.
	AcceptLoss bool
}

// Settled is what Settle did.
type Settled struct {
	// Restore is the checkpoint to restore: Target, or a fallback.
	Restore int64
	// Held are Newest's pending transactions: their ids must start no new
	// transaction until a checkpoint after Newest completes, so that a
	// recovery of Newest after another crash finds them as they are now.
	Held []operators.Transaction
	// Examined lists Newest's pending transactions with their verdicts
	// (before this recovery committed or aborted any).
	Examined []Examined
	// Committed and Aborted are the transactions this recovery committed
	// (resume-commit) and aborted (they hold records after Restore, which
	// are written again).
	Committed, Aborted []operators.Transaction
	// Duplicated are transactions committed before this recovery whose
	// records come after Restore: a named restore writes them again.
	Duplicated []operators.Transaction
	// LostAccepted are lost transactions whose loss AcceptLoss accepted.
	LostAccepted []operators.Transaction
}

// LostError says that pending transactions of the newest complete
// checkpoint are gone — the broker aborted them (their
// transaction.timeout.ms passed) or a newer producer fenced them — and that
// no retained checkpoint can replace it without losing or duplicating
// output.
type LostError struct {
	Checkpoint int64
	Lost       []operators.Transaction
	Committed  []operators.Transaction
	// Fallbacks are the older checkpoints that were considered.
	Fallbacks []int64
	// Target is the checkpoint a named restore asked for (0 otherwise).
	Target int64
}

func (e *LostError) Error() string {
	ids := make([]string, len(e.Lost))
	for i, tx := range e.Lost {
		ids[i] = fmt.Sprintf("%s (task %d, records after checkpoint %d up to checkpoint %d, producer %d epoch %d)",
			tx.TransactionalID, tx.Task, tx.After, tx.Checkpoint, tx.ProducerID, tx.ProducerEpoch)
	}
	msg := fmt.Sprintf("sink: %d pending transaction(s) of checkpoint %d were aborted by the broker (transaction timeout?) or fenced before they could be committed: %s; the records they held are lost",
		len(e.Lost), e.Checkpoint, strings.Join(ids, ", "))
	if e.Target > 0 {
		return msg + fmt.Sprintf(", and they precede checkpoint %d named with --from; name a checkpoint at or before the earliest 'after' above to write them again, or run with --accept-loss to carry on without them", e.Target)
	}
	if len(e.Committed) > 0 {
		msg += fmt.Sprintf("; %d other transaction(s) of the checkpoint committed already", len(e.Committed))
	}
	if len(e.Fallbacks) == 0 {
		msg += "; no older checkpoint is retained to write them again"
	} else {
		msg += fmt.Sprintf("; none of the retained older checkpoints %v can write them again without duplicating committed output", e.Fallbacks)
	}
	return msg + ". Restore an older checkpoint or savepoint with --from (output after it is written again), or run with --accept-loss to carry on without them"
}

// Settler settles, at a restore and before any committer opens, the
// transactions previous runs left on the job's transactional ids.
type Settler struct {
	// Output is the job's output block (its transaction timeout).
	Output Output
	// Base are the shared client options.
	Base []kgo.Opt
	// Pools are the job's configured pools: one per sink-bearing stage
	// (StagePools), or the single-chain sink's (ConfiguredPool).
	Pools []Pool
	Log   *zap.Logger
}

// LegacySettler is the Settler of cfg's single-chain sink.
func LegacySettler(cfg *config.Config, base []kgo.Opt, log *zap.Logger) Settler {
	return Settler{Output: LegacyOutput(cfg), Base: base, Pools: []Pool{ConfiguredPool(cfg)}, Log: log}
}

// Settle resolves, before any sink opens, what previous runs left: it
// examines every pending transaction of the newest complete checkpoint
// (committing none yet), decides which checkpoint to restore — the target,
// or when some are lost an older one whose restore loses and duplicates
// nothing — then commits the transactions whose records precede the restore
// point (resume-commit, with the producer id and epoch they were
// pre-committed with), and aborts every other transaction of the job's
// transactional ids (fencing any zombie still using one). Every step is
// idempotent: a crash anywhere in it is just another crash. If output is
// lost and no checkpoint can make it whole, it returns a *LostError and
// changes nothing.
//
// Settle is Examine, Decide and Execute in one; a job that restores an
// older checkpoint than the newest records that decision durably between
// Decide and Execute.
func (st Settler) Settle(ctx context.Context, r Recovery) (Settled, error) {
	out := Settled{Restore: r.Target}
	var err error
	if out.Examined, err = st.Examine(ctx, r.Pending); err != nil {
		return out, err
	}
	plan, err := Decide(r, out.Examined)
	if err != nil {
		return out, err
	}
	out.Restore, out.Duplicated, out.LostAccepted = plan.Restore, plan.Duplicated, plan.LostAccepted
	if err := st.Execute(ctx, plan, out.Examined, r.Pools); err != nil {
		return out, err
	}
	out.Committed, out.Aborted = plan.Commit, plan.Abort
	out.Held = append([]operators.Transaction(nil), r.Pending...)
	return out, nil
}

// Settle is LegacySettler(cfg, base, log).Settle.
func Settle(ctx context.Context, cfg *config.Config, base []kgo.Opt, r Recovery, log *zap.Logger) (Settled, error) {
	return LegacySettler(cfg, base, log).Settle(ctx, r)
}

// Examine finds out, committing nothing, what became of each pending
// transaction (of any stage); it also checks the transaction timeout
// against the broker's limit.
func (st Settler) Examine(ctx context.Context, pending []operators.Transaction) ([]Examined, error) {
	cl, err := kgo.NewClient(st.Base...)
	if err != nil {
		return nil, fmt.Errorf("sink: recovery client: %w", err)
	}
	defer cl.Close()
	if err := checkTimeout(ctx, st.Output, cl); err != nil {
		return nil, err
	}
	if len(pending) == 0 {
		return nil, nil
	}
	res := newResumer(st.Base)
	defer res.close()
	ex, err := examine(ctx, cl, res, pending)
	if err != nil {
		return nil, err
	}
	for _, e := range ex {
		st.Log.Info("pending transaction examined", zap.String("transactional_id", e.TransactionalID),
			zap.Int64("checkpoint", e.Checkpoint), zap.Int64("after", e.After), zap.Stringer("verdict", e.Verdict), zap.String("why", e.Why),
			zap.Bool("near_timeout", e.AtRisk))
	}
	return ex, nil
}

// Examine is LegacySettler(cfg, base, log).Examine.
func Examine(ctx context.Context, cfg *config.Config, base []kgo.Opt, pending []operators.Transaction, log *zap.Logger) ([]Examined, error) {
	return LegacySettler(cfg, base, log).Examine(ctx, pending)
}

// Execute carries plan out: it commits plan.Commit (resume-commit), then
// aborts every other transaction of the pools (the configured ones and
// previous, those of previous runs), sparing only the ids of transactions
// that committed.
func (st Settler) Execute(ctx context.Context, plan Plan, examined []Examined, previous []Pool) error {
	log := st.Log
	cl, err := kgo.NewClient(st.Base...)
	if err != nil {
		return fmt.Errorf("sink: recovery client: %w", err)
	}
	defer cl.Close()
	res := newResumer(st.Base)
	defer res.close()
	keep := map[string]bool{}
	for _, e := range examined {
		if e.Verdict == Committed {
			keep[e.TransactionalID] = true
		}
	}
	// Oldest first: the transaction nearest its timeout commits first, so
	// that if the broker aborts it meanwhile, nothing else has committed.
	commits := append([]operators.Transaction(nil), plan.Commit...)
	sort.SliceStable(commits, func(i, j int) bool { return commits[i].After < commits[j].After })
	for _, tx := range commits {
		if err := res.commit(ctx, tx); err != nil {
			return fmt.Errorf("sink: commit pending transaction %s of checkpoint %d: %w", tx.TransactionalID, tx.Checkpoint, err)
		}
		keep[tx.TransactionalID] = true
		log.Info("pending transaction committed", zap.String("transactional_id", tx.TransactionalID), zap.Int64("checkpoint", tx.Checkpoint))
		crashpoint.Hit(crashpoint.SettleAfterCommitOne)
	}
	crashpoint.Hit(crashpoint.SettleAfterResume)
	for _, tx := range plan.Abort {
		log.Warn("pending transaction aborted: its records come after the checkpoint restored and are written again",
			zap.String("transactional_id", tx.TransactionalID), zap.Int64("checkpoint", tx.Checkpoint), zap.Int64("restore", plan.Restore))
	}
	// The ids of transactions that committed are left alone: initialising
	// them would bump their epoch, so that a second recovery of the same
	// checkpoint (after a crash during this one) could no longer tell
	// "committed" from "lost". The sink does not reuse them until a newer
	// checkpoint completes.
	all := append(append([]Pool(nil), st.Pools...), previous...)
	if err := abortLingering(ctx, st.Output.TransactionTimeout, cl, all, keep, log); err != nil {
		return err
	}
	crashpoint.Hit(crashpoint.SettleAfterAbort)
	return nil
}

// Execute is LegacySettler(cfg, base, log).Execute.
func Execute(ctx context.Context, cfg *config.Config, base []kgo.Opt, plan Plan, examined []Examined, pools []Pool, log *zap.Logger) error {
	return LegacySettler(cfg, base, log).Execute(ctx, plan, examined, pools)
}

// Plan is what Decide chose.
type Plan struct {
	Restore       int64
	Commit, Abort []operators.Transaction
	Duplicated    []operators.Transaction
	LostAccepted  []operators.Transaction
}

// Decide chooses, from the verdicts on the newest checkpoint's pending
// transactions, the checkpoint to restore and which transactions to commit
// and abort. A transaction holds the records written after barrier After up
// to barrier Checkpoint; restoring checkpoint K writes again everything
// after K. So K loses nothing and duplicates nothing when every lost
// transaction lies after K, every committed one before it, and every
// committable one on one side (it is committed if before, aborted if
// after). Without a named target it restores Newest if nothing is lost, else
// the newest fallback that qualifies; a named target is restored whatever
// it duplicates (the user asked for it), but not if records before it are
// lost (unless AcceptLoss).
//
// A committable transaction at risk of its timeout is first taken for lost:
// if a fallback then loses and duplicates nothing, that is chosen, and
// nothing depends on a race with the broker's timeout. Only if none does is
// it committed (and the commits go oldest first, so that if the broker wins
// the race nothing else has committed yet).
func Decide(r Recovery, ex []Examined) (Plan, error) {
	risky := false
	for _, e := range ex {
		risky = risky || e.AtRisk && e.Verdict == Committable
	}
	if risky {
		safe := make([]Examined, len(ex))
		for i, e := range ex {
			if e.AtRisk && e.Verdict == Committable {
				e.Verdict, e.Why = Lost, e.Why+"; near its transaction timeout"
			}
			safe[i] = e
		}
		if p, err := decide(r, safe); err == nil && !r.Named {
			return p, nil
		}
	}
	return decide(r, ex)
}

func decide(r Recovery, ex []Examined) (Plan, error) {
	var lost, committed []operators.Transaction
	for _, e := range ex {
		switch e.Verdict {
		case Lost:
			lost = append(lost, e.Transaction)
		case Committed:
			committed = append(committed, e.Transaction)
		}
	}
	split := func(k int64) (p Plan) {
		p.Restore = k
		for _, e := range ex {
			switch {
			case e.Verdict == Committable && (e.Checkpoint <= k || e.After < k):
				// Before k, or straddling it (only over checkpoints that
				// never completed): committing is the only way not to
				// lose its records.
				p.Commit = append(p.Commit, e.Transaction)
			case e.Verdict == Committable:
				p.Abort = append(p.Abort, e.Transaction)
			case e.Verdict == Committed && e.Checkpoint > k:
				p.Duplicated = append(p.Duplicated, e.Transaction)
			}
		}
		return p
	}
	pending := map[txnKey]bool{}
	for _, tx := range r.Pending {
		pending[keyOf(tx)] = true
	}
	whole := func(k int64) bool {
		for _, tx := range r.Listed {
			// Committed before Newest was taken, with records after k.
			if tx.Checkpoint > k && !pending[keyOf(tx)] {
				return false
			}
		}
		for _, e := range ex {
			switch e.Verdict {
			case Lost:
				if e.After < k {
					return false
				}
			case Committed:
				if e.Checkpoint > k {
					return false
				}
			case Committable:
				if e.Checkpoint > k && e.After < k {
					return false
				}
			}
		}
		return true
	}
	if r.Named {
		var early []operators.Transaction
		for _, tx := range lost {
			if tx.After < r.Target {
				early = append(early, tx)
			}
		}
		p := split(r.Target)
		if len(early) > 0 {
			if !r.AcceptLoss {
				return p, &LostError{Checkpoint: r.Newest, Lost: early, Committed: committed, Target: r.Target}
			}
			p.LostAccepted = early
		}
		return p, nil
	}
	if len(lost) == 0 {
		return split(r.Target), nil
	}
	for _, k := range r.Fallbacks {
		if k < r.Newest && whole(k) {
			return split(k), nil
		}
	}
	if r.AcceptLoss {
		p := split(r.Target)
		p.LostAccepted = lost
		return p, nil
	}
	return Plan{Restore: r.Target}, &LostError{Checkpoint: r.Newest, Lost: lost, Committed: committed, Fallbacks: r.Fallbacks}
}

// txnKey identifies one transaction of an id: its producer id and epoch
// and the checkpoint that pre-committed it.
type txnKey struct {
	id         string
	pid        int64
	epoch      int16
	checkpoint int64
}

func keyOf(tx operators.Transaction) txnKey {
	return txnKey{tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.Checkpoint}
}

// examine finds out, without committing anything, what became of each
// pending transaction. An open transaction under the stored producer id and
// epoch is committable. A transaction that ended is probed with a commit of
// the stored producer id and epoch, which changes nothing on the broker:
// it succeeds if the transaction committed and fails if it was aborted.
func examine(ctx context.Context, cl *kgo.Client, res *resumer, pending []operators.Transaction) ([]Examined, error) {
	ids := make([]string, 0, len(pending))
	for _, tx := range pending {
		ids = append(ids, tx.TransactionalID)
	}
	var described kadm.DescribedTransactions
	err := retry(ctx, func() error {
		var err error
		described, err = kadm.NewClient(cl).DescribeTransactions(ctx, ids...)
		if err != nil {
			return err
		}
		for _, d := range described {
			if d.Err != nil && !errors.Is(d.Err, kerr.TransactionalIDNotFound) {
				return d.Err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sink: describe pending transactions %v: %w", ids, err)
	}
	old, err := longRunning(ctx, cl, described)
	if err != nil {
		return nil, err
	}
	out := make([]Examined, 0, len(pending))
	for _, tx := range pending {
		e := Examined{Transaction: tx, AtRisk: old[tx.TransactionalID]}
		d, ok := described[tx.TransactionalID]
		switch {
		case !ok || errors.Is(d.Err, kerr.TransactionalIDNotFound):
			e.Verdict, e.Why = Lost, "the broker no longer knows the transactional id"
		case d.State == "Ongoing" && d.ProducerID == tx.ProducerID && d.ProducerEpoch == tx.ProducerEpoch:
			e.Verdict, e.Why = Committable, "open under its producer id and epoch"
		case d.State == "Ongoing":
			return nil, fmt.Errorf("sink: transactional id %s holds another transaction (producer %d epoch %d) than the one checkpoint %d recorded (producer %d epoch %d): another instance of the job, or another job with the same sink.transactional_id_prefix, uses it; stop it before restarting this one",
				tx.TransactionalID, d.ProducerID, d.ProducerEpoch, tx.Checkpoint, tx.ProducerID, tx.ProducerEpoch)
		case d.State == "PrepareCommit" || d.State == "CompleteCommit":
			e.Verdict, e.Why = Committed, "broker state "+d.State
		case d.State == "PrepareAbort" || d.State == "CompleteAbort" || d.State == "Dead" || d.State == "PrepareEpochFence":
			e.Verdict, e.Why = Lost, "broker state "+d.State
		default:
			// Empty: the broker (kfake, or Kafka after the id was
			// initialised again) does not say how the transaction ended.
			// A commit retry of an ended transaction is a no-op that
			// succeeds only if it committed.
			switch err := res.probe(ctx, tx); {
			case err == nil:
				e.Verdict, e.Why = Committed, "a commit retry succeeded"
			case isEnded(err):
				e.Verdict, e.Why = Lost, "a commit retry failed: "+err.Error()
			default:
				return nil, fmt.Errorf("sink: examine pending transaction %s of checkpoint %d: %w", tx.TransactionalID, tx.Checkpoint, err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// riskMargin is how long before its timeout an open transaction is taken
// to be at risk: at least five seconds, or a fifth of the timeout.
func riskMargin(timeout time.Duration) time.Duration { return max(5*time.Second, timeout/5) }

// longRunning returns the ids of the open transactions among described
// that have been open, by the broker's own clock, for longer than their
// timeout less riskMargin (ListTransactions with a duration filter,
// KIP-994). A broker without the filter answers nothing is at risk.
func longRunning(ctx context.Context, cl *kgo.Client, described kadm.DescribedTransactions) (map[string]bool, error) {
	var timeout int32
	for _, d := range described {
		if d.State == "Ongoing" && (timeout == 0 || d.TimeoutMillis < timeout) {
			timeout = d.TimeoutMillis
		}
	}
	out := map[string]bool{}
	if timeout == 0 {
		return out, nil
	}
	t := time.Duration(timeout) * time.Millisecond
	req := kmsg.NewPtrListTransactionsRequest()
	req.DurationFilterMillis = max(int64((t-riskMargin(t))/time.Millisecond), 0)
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			if errors.Is(shard.Err, kerr.UnsupportedVersion) {
				continue
			}
			return nil, fmt.Errorf("sink: list long-running transactions: %w", shard.Err)
		}
		resp := shard.Resp.(*kmsg.ListTransactionsResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return nil, fmt.Errorf("sink: list long-running transactions: %w", err)
		}
		if resp.Version < 1 {
			continue // no duration filter: every open transaction is listed
		}
		for _, ts := range resp.TransactionStates {
			out[ts.TransactionalID] = true
		}
	}
	return out, nil
}

// isEnded reports whether a commit's error says the transaction is gone.
func isEnded(err error) bool {
	return errors.Is(err, kerr.InvalidTxnState) || errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidProducerIDMapping) || errors.Is(err, kerr.TransactionalIDNotFound) || errors.Is(err, kerr.TransactionAbortable)
}

// resumer sends EndTxn requests for transactions of other clients: v5
// (which ends with an epoch bump) for transactions opened under
// transaction.version 2, v4 otherwise.
type resumer struct {
	base    []kgo.Opt
	clients map[bool]*kgo.Client
}

func newResumer(base []kgo.Opt) *resumer {
	return &resumer{base: base, clients: map[bool]*kgo.Client{}}
}

func (r *resumer) close() {
	for _, c := range r.clients {
		c.Close()
	}
}

func (r *resumer) client(v5 bool) (*kgo.Client, error) {
	if cl := r.clients[v5]; cl != nil {
		return cl, nil
	}
	opts := append([]kgo.Opt{}, r.base...)
	if !v5 {
		// Brokers may advertise EndTxn v5 without transaction version 2;
		// a raw request negotiates the highest.
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
		opts = append(opts, kgo.MaxVersions(vs))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("sink: recovery client: %w", err)
	}
	r.clients[v5] = cl
	return cl, nil
}

// endTxn sends one commit of tx with its stored producer id and epoch.
func (r *resumer) endTxn(ctx context.Context, tx operators.Transaction) error {
	cl, err := r.client(tx.TxnVersion >= 2)
	if err != nil {
		return err
	}
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
}

// probe asks whether an ended transaction committed (nil) or not.
func (r *resumer) probe(ctx context.Context, tx operators.Transaction) error {
	return retry(ctx, func() error { return r.endTxn(ctx, tx) })
}

// commit resume-commits tx; a retry of a commit that went through is not an
// error.
func (r *resumer) commit(ctx context.Context, tx operators.Transaction) error {
	return retry(ctx, func() error { return r.endTxn(ctx, tx) })
}

// abortLingering aborts every open transaction of the job's pools (and
// fences its producer) with InitProducerId, which ends a dangling
// transaction, sparing the ids in keep. It covers every id of each pool
// and every listed transaction whose id has a pool's exact form.
func abortLingering(ctx context.Context, timeout time.Duration, cl *kgo.Client, pools []Pool, keep map[string]bool, log *zap.Logger) error {
	ids := map[string]bool{}
	for _, p := range pools {
		for _, id := range p.IDs() {
			ids[id] = true
		}
	}
	listed, err := kadm.NewClient(cl).ListTransactions(ctx, nil, nil)
	if err != nil && len(listed) == 0 {
		log.Debug("list transactions failed; aborting the pools' ids only", zap.Error(err))
	}
	for id := range listed {
		for _, p := range pools {
			if p.Owns(id) {
				ids[id] = true
			}
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
			req.TransactionTimeoutMillis = int32(timeout / time.Millisecond)
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

// checkTimeout refuses a transaction timeout above the broker's
// transaction.max.timeout.ms, when the broker says what that is.
func checkTimeout(ctx context.Context, out Output, cl *kgo.Client) error {
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
			if _, err := fmt.Sscan(*c.Value, &ms); err == nil && out.TransactionTimeout > time.Duration(ms)*time.Millisecond {
				return fmt.Errorf("%w: %s.transaction_timeout %s exceeds the broker's transaction.max.timeout.ms (%d ms): lower it, or raise the broker's", ErrConfig, out.block(), out.TransactionTimeout, ms)
			}
		}
	}
	return nil
}
