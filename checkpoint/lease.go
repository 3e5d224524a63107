package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/crashpoint"
)

// The lease gives a job one owner at a time. Each instance that takes the
// job over creates, with a conditional write, the claim of the next
// generation:
//
//	_lease/g<generation>/claim       who holds it (PutIfAbsent: one winner)
//	_lease/g<generation>/heartbeat   a counter the holder rewrites while alive
//	_lease/g<generation>/fence       the newest checkpoint when it started
//	_lease/g<generation>/released    written on a clean stop
//
// An instance holds the job from its claim until the claim of the next
// generation exists. A newer claim is only made when the holder released
// the job, when its heartbeat has not changed for the lease timeout (as
// measured by the claimant's own clock: no clocks are compared), or when
// the claimant proves the holder dead (same host and state directory, whose
// lock the claimant holds). Safety does not rest on timing: a holder checks
// that no newer claim exists after writing a checkpoint's metadata and
// before any of its transactions commit, and a checkpoint an older
// generation completed after a newer one started (its id above the newer
// one's fence) is never restored.
const leaseDir = "_lease/"

// Holder identifies an instance of the job.
type Holder struct {
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	StateDir string    `json:"state_dir"`
	Instance string    `json:"instance"`
	Started  time.Time `json:"started"`
}

// String describes the holder for logs and errors; "none" for the zero
// Holder (a job's first lease has no previous holder).
func (h Holder) String() string {
	if h == (Holder{}) {
		return "none"
	}
	return fmt.Sprintf("pid %d on %s (state dir %s, started %s)", h.PID, h.Host, h.StateDir, h.Started.Format(time.RFC3339))
}

// ErrLeaseHeld: another live instance holds the job and LeaseConfig.Wait
// is false.
var ErrLeaseHeld = errors.New("checkpoint: the job is held by another instance")

// LeaseConfig configures AcquireLease.
type LeaseConfig struct {
	Holder Holder
	// Timeout is how long a holder's heartbeat may stand still before the
	// holder is taken for dead. The holder renews every Timeout/4.
	// Default 15s.
	Timeout time.Duration
	// Wait: while another live instance holds the job, wait for it to
	// stop (true) or fail with ErrLeaseHeld (false).
	Wait bool
	// Reclaimable, if set, says that holder h is certainly not running
	// any more (the same host and state directory, whose lock this
	// process now holds), so its lease can be taken at once.
	Reclaimable func(h Holder) bool
	// Poll is how often a waiting instance looks at the lease. Default
	// Timeout/8, at most 1s.
	Poll time.Duration
	Log  *zap.Logger
	// Now is the clock used to time a holder's silence; time.Now if nil.
	Now func() time.Time
}

// Lease is a held job lease. Its methods are safe for concurrent use.
type Lease struct {
	st  storage.Store
	cfg LeaseConfig
	gen int64
	log *zap.Logger

	mu     sync.Mutex
	lost   bool    // a newer generation claimed the job
	newer  *Holder // its holder, once read
	lostCh chan struct{}
	count  int64
	stop   context.CancelFunc
	done   chan struct{}
}

func genDir(g int64) string       { return fmt.Sprintf("%sg%010d/", leaseDir, g) }
func claimKey(g int64) string     { return genDir(g) + "claim" }
func heartbeatKey(g int64) string { return genDir(g) + "heartbeat" }
func fenceKey(g int64) string     { return genDir(g) + "fence" }
func releasedKey(g int64) string  { return genDir(g) + "released" }
func parseGen(key string) (int64, bool) {
	rest, ok := strings.CutPrefix(key, leaseDir+"g")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, false
	}
	g, err := strconv.ParseInt(num, 10, 64)
	return g, err == nil && g > 0
}

type leaseState struct {
	gen      int64 // newest generation with a claim; 0 if none
	holder   Holder
	released bool
}

func readLease(ctx context.Context, st storage.Store) (leaseState, error) {
	infos, err := st.List(ctx, leaseDir)
	if err != nil {
		return leaseState{}, fmt.Errorf("checkpoint: list the job lease: %w", err)
	}
	var s leaseState
	keys := map[string]bool{}
	for _, in := range infos {
		keys[in.Key] = true
		if g, ok := parseGen(in.Key); ok && in.Key == claimKey(g) && g > s.gen {
			s.gen = g
		}
	}
	if s.gen == 0 {
		return s, nil
	}
	s.released = keys[releasedKey(s.gen)]
	if err := readJSON(ctx, st, claimKey(s.gen), &s.holder); err != nil {
		return s, err
	}
	return s, nil
}

func readJSON(ctx context.Context, st storage.Store, key string, v any) error {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("checkpoint: read %s: %w", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("checkpoint: read %s: %w", key, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("checkpoint: %s: %w: %v", key, ErrCorrupt, err)
	}
	return nil
}

func putJSON(ctx context.Context, st storage.Store, key string, v any, ifAbsent bool) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if ifAbsent {
		return st.PutIfAbsent(ctx, key, bytes.NewReader(data), int64(len(data)))
	}
	return st.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
}

type heartbeat struct {
	Count int64     `json:"count"`
	At    time.Time `json:"at"` // the holder's clock: for people, never compared
}

// readHeartbeat returns the holder's heartbeat count, -1 if it wrote none.
func readHeartbeat(ctx context.Context, st storage.Store, gen int64) (int64, error) {
	var hb heartbeat
	err := readJSON(ctx, st, heartbeatKey(gen), &hb)
	if errors.Is(err, storage.ErrNotFound) {
		return -1, nil
	}
	return hb.Count, err
}

// AcquireLease takes the job's lease for a new generation, waiting while a
// live instance holds it (or failing with ErrLeaseHeld if cfg.Wait is
// false). The lease then renews itself in the background until Release,
// or until a newer claim appears (see Lost).
func AcquireLease(ctx context.Context, st storage.Store, cfg LeaseConfig) (*Lease, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	poll := cfg.Poll
	if poll <= 0 {
		poll = min(max(cfg.Timeout/8, 10*time.Millisecond), time.Second)
	}
	var (
		watched   int64 = -1 // generation whose heartbeat is watched
		lastCount int64
		since     time.Time
		lastLog   time.Time
	)
	for {
		s, err := readLease(ctx, st)
		if err != nil {
			return nil, err
		}
		take := s.gen == 0 || s.released || (cfg.Reclaimable != nil && cfg.Reclaimable(s.holder))
		if !take {
			count, err := readHeartbeat(ctx, st, s.gen)
			if err != nil {
				return nil, err
			}
			now := cfg.Now()
			if watched != s.gen || count != lastCount {
				watched, lastCount, since = s.gen, count, now
			}
			silent := now.Sub(since)
			take = silent >= cfg.Timeout
			if !take {
				if !cfg.Wait {
					return nil, fmt.Errorf("%w: %s holds generation %d of its lease; stop it first (or run with waiting enabled)", ErrLeaseHeld, s.holder, s.gen)
				}
				if lastLog.IsZero() || now.Sub(lastLog) >= 30*time.Second {
					lastLog = now
					cfg.Log.Warn("the job is held by another instance: waiting until it stops, or misses its heartbeats for the lease timeout",
						zap.Int64("generation", s.gen), zap.Stringer("holder", s.holder), zap.Duration("lease_timeout", cfg.Timeout))
				}
				select {
				case <-time.After(poll + rand.N(poll/4+1)):
					continue
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			cfg.Log.Warn("taking the job over from an instance that stopped renewing its lease",
				zap.Int64("generation", s.gen), zap.Stringer("holder", s.holder), zap.Duration("silent_for", silent))
		}
		gen := s.gen + 1
		err = putJSON(ctx, st, claimKey(gen), cfg.Holder, true)
		if errors.Is(err, storage.ErrExists) {
			watched = -1 // someone else took it: watch the new holder
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("checkpoint: claim generation %d of the job lease: %w", gen, err)
		}
		crashpoint.Hit(crashpoint.AfterClaim)
		l := &Lease{st: st, cfg: cfg, gen: gen, log: cfg.Log, lostCh: make(chan struct{}), done: make(chan struct{})}
		if err := l.renew(ctx); err != nil {
			return nil, err
		}
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		l.stop = cancel
		go l.renewLoop(rctx)
		cfg.Log.Info("job lease taken", zap.Int64("generation", gen), zap.Stringer("previous_holder", s.holder))
		return l, nil
	}
}

// Generation is the lease's generation: every checkpoint this instance
// writes records it.
func (l *Lease) Generation() int64 { return l.gen }

// Lost is closed once a newer generation claimed the job.
func (l *Lease) Lost() <-chan struct{} { return l.lostCh }

func (l *Lease) renew(ctx context.Context) error {
	l.mu.Lock()
	l.count++
	hb := heartbeat{Count: l.count, At: time.Now()}
	l.mu.Unlock()
	if err := putJSON(ctx, l.st, heartbeatKey(l.gen), hb, false); err != nil {
		return fmt.Errorf("checkpoint: renew the job lease: %w", err)
	}
	return l.Check(ctx)
}

func (l *Lease) renewLoop(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(max(l.cfg.Timeout/4, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := l.renew(ctx); err != nil {
			if errors.Is(err, ErrZombie) {
				return
			}
			if ctx.Err() == nil {
				l.log.Warn("job lease not renewed", zap.Error(err))
			}
		}
	}
}

// Check returns an error wrapping ErrZombie if a newer generation claimed
// the job: this instance must stop, committing nothing more. The error
// names the newer holder, read from its claim.
func (l *Lease) Check(ctx context.Context) error {
	l.mu.Lock()
	lost := l.lost
	l.mu.Unlock()
	if !lost {
		_, err := l.st.Stat(ctx, claimKey(l.gen+1))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("checkpoint: check the job lease: %w", err)
		}
		l.mu.Lock()
		if !l.lost {
			l.lost = true
			close(l.lostCh)
		}
		l.mu.Unlock()
	}
	return l.zombie(ctx)
}

// zombie is the error of a lease a newer generation claimed. The newer
// holder is read from its claim once; the read does not end with ctx (the
// loss is found just as the job fails and cancels its context), and a read
// that fails anyway is tried again by the next call, so that the error the
// processor exits with names the holder.
func (l *Lease) zombie(ctx context.Context) error {
	l.mu.Lock()
	h := l.newer
	l.mu.Unlock()
	if h == nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var nh Holder
		if err := readJSON(rctx, l.st, claimKey(l.gen+1), &nh); err != nil {
			return fmt.Errorf("%w: another instance took the job over (lease generation %d; this instance held %d; its claim could not be read: %v)", ErrZombie, l.gen+1, l.gen, err)
		}
		l.mu.Lock()
		l.newer = &nh
		h = &nh
		l.mu.Unlock()
	}
	return fmt.Errorf("%w: %s took the job over (lease generation %d; this instance held %d)", ErrZombie, *h, l.gen+1, l.gen)
}

// Fence records the newest complete checkpoint at the start of this
// generation: a checkpoint an older generation completes after it (a
// zombie's) has a higher id and is never restored.
func (l *Lease) Fence(ctx context.Context, newest int64) error {
	err := putJSON(ctx, l.st, fenceKey(l.gen), leaseFence{Newest: newest}, true)
	if err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("checkpoint: write the lease fence: %w", err)
	}
	return nil
}

// Release gives the job up on a clean stop, so that the next instance
// need not wait for the lease timeout, and stops renewing.
func (l *Lease) Release(ctx context.Context) error {
	l.Close()
	if err := l.Check(ctx); err != nil {
		return nil // someone else holds it already
	}
	err := putJSON(ctx, l.st, releasedKey(l.gen), heartbeat{At: time.Now()}, true)
	if err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("checkpoint: release the job lease: %w", err)
	}
	l.log.Info("job lease released", zap.Int64("generation", l.gen))
	return nil
}

// Close stops renewing the lease without releasing it (a crash looks the
// same to other instances).
func (l *Lease) Close() {
	if l.stop != nil {
		l.stop()
		<-l.done
	}
}

type leaseFence struct {
	Newest int64 `json:"newest"`
}

// Fences are the fences of every generation: which checkpoints of older
// generations may still be restored.
type Fences map[int64]int64

// LoadFences reads every generation's fence.
func LoadFences(ctx context.Context, st storage.Store) (Fences, error) {
	infos, err := st.List(ctx, leaseDir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list the job lease: %w", err)
	}
	f := Fences{}
	for _, in := range infos {
		g, ok := parseGen(in.Key)
		if !ok || in.Key != fenceKey(g) {
			continue
		}
		var lf leaseFence
		if err := readJSON(ctx, st, in.Key, &lf); err != nil {
			return nil, err
		}
		f[g] = lf.Newest
	}
	return f, nil
}

// Valid reports whether checkpoint m may be restored: no later generation
// started before it completed (its id is at most the fence of every later
// generation).
func (f Fences) Valid(m *Metadata) bool {
	_, _, out := f.RuledOutBy(m)
	return !out
}

// RuledOutBy says why checkpoint m may not be restored: generation gen, a
// later one than m's, started when newest was the newest complete
// checkpoint, and m's id is above it (the lowest such generation). out is
// false if no fence rules m out.
func (f Fences) RuledOutBy(m *Metadata) (gen, newest int64, out bool) {
	for g, n := range f {
		if g > m.Generation && m.CheckpointID > n && (!out || g < gen) {
			gen, newest, out = g, n, true
		}
	}
	return gen, newest, out
}
