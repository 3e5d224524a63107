package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/internal/benchfmt"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/internal/runner"
)

// variant is one pipeline measured.
type variant struct {
	name  string
	label string
	// tidemark: run Tidemark with pipeline op and these guarantees;
	// otherwise the raw franz-go pipe, in transactions with txn.
	tidemark    bool
	op          string
	exactlyOnce bool
	txn         bool
}

var allVariants = []variant{
	{name: "a", label: "baseline: franz-go consume→produce"},
	{name: "b", label: "Tidemark passthrough, exactly once", tidemark: true, op: "passthrough", exactlyOnce: true},
	{name: "c", label: "Tidemark count, exactly once", tidemark: true, op: "count", exactlyOnce: true},
	{name: "d", label: "Tidemark count, at least once", tidemark: true, op: "count"},
	// Not run by default: to tell the transactions' share from the rest.
	{name: "e", label: "Tidemark passthrough, at least once", tidemark: true, op: "passthrough"},
	{name: "f", label: "franz-go consume→produce, transactions every interval", txn: true},
}

func variantByName(name string) (variant, bool) {
	for _, v := range allVariants {
		if v.name == name {
			return v, true
		}
	}
	return variant{}, false
}

// running is a pipeline running in the background.
type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed once it ended; err is set then
	err    error
	// job is Tidemark's job, nil for the baseline.
	job *job.Job
	// startup is from Run to ready (Tidemark only).
	startup time.Duration
}

// stop ends the pipeline (Tidemark: final checkpoint and commit) and waits
// for it.
func (r *running) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// config is the Tidemark configuration of variant v reading in, writing
// out, as job name.
func (e *env) config(v variant, name, in, out string) (*config.Config, error) {
	cfg := config.Default()
	cfg.Job.Name = name
	cfg.Job.Parallelism = e.o.parallelism
	cfg.Kafka.Brokers = e.o.brokers
	cfg.Source.Topics = []string{in}
	cfg.Pipeline.Operators = []config.Operator{{Type: v.op}}
	cfg.Sink.Topic = out
	cfg.Checkpoint.Storage = e.storageRoot
	cfg.Checkpoint.Interval = e.o.interval
	if v.exactlyOnce {
		cfg.Sink.Delivery, cfg.Checkpoint.Mode = config.ExactlyOnce, config.ExactlyOnce
	} else {
		cfg.Sink.Delivery, cfg.Checkpoint.Mode = config.AtLeastOnce, config.AtLeastOnce
	}
	cfg.State.Dir = filepath.Join(e.o.dir, "state", name)
	if e.o.storage == "s3" {
		cfg.S3 = e.s3
	}
	cfg.HTTP.Listen = ""
	cfg.Log.Level = "warn"
	if e.o.verbose {
		cfg.Log.Level = "info"
	}
	cfg.Log.Format = "console"
	return &cfg, cfg.Validate()
}

// start starts variant v reading in and writing out and returns once it
// is ready to process records.
func (e *env) start(ctx context.Context, v variant, name, in, out string) (*running, error) {
	if !v.tidemark {
		return e.baseline(ctx, name, in, out, v.txn)
	}
	cfg, err := e.config(v, name, in, out)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan struct{})}
	ready := make(chan *job.Job, 1)
	begin := time.Now()
	go func() {
		defer close(r.done)
		r.err = runner.Run(ctx, cfg, runner.Options{}, e.log, runner.Hooks{Ready: func(_ []string, j *job.Job) { ready <- j }})
	}()
	select {
	case r.job = <-ready:
		r.startup = time.Since(begin)
		return r, nil
	case <-r.done:
		cancel()
		if r.err == nil {
			r.err = errors.New("stopped before it was ready")
		}
		return nil, r.err
	case <-time.After(e.o.timeout):
		r.stop()
		return nil, fmt.Errorf("not ready after %s", e.o.timeout)
	}
}

// removeState deletes a finished Tidemark job's local state and file://
// checkpoints.
func (e *env) removeState(name string) {
	if e.o.keep {
		return
	}
	_ = os.RemoveAll(filepath.Join(e.o.dir, "state", name))
	if root, ok := strings.CutPrefix(e.storageRoot, "file://"); ok {
		_ = os.RemoveAll(filepath.Join(root, name))
	}
}

// runResult is one throughput run.
type runResult struct {
	variant string
	round   int
	records int64
	startup time.Duration // Tidemark: Run to ready
	// visible: from ready until a read_committed consumer saw every
	// record; written: until the output's high watermarks summed to the
	// record count.
	visible, written time.Duration
	cpu              cpuSample
	checkpoints      int64 // completed during the run
	ckptE2E          []time.Duration
	phases           ckptPhases
	// firstOut: from ready until the consumer saw the first record.
	firstOut time.Duration
	// perBatch is the output's mean records per record batch.
	perBatch float64
}

// ckptPhases are the phases of the checkpoints of a run (checkpoint.Stats):
// start delay (trigger to a task's first barrier), alignment, sync and
// async parts, each the longest over tasks.
type ckptPhases struct {
	delay, align, sync, async []time.Duration
}

// String gives the medians, delay / align / sync / async.
func (p ckptPhases) String() string {
	if len(p.delay) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s / %s", benchfmt.Dur(benchfmt.Pct(p.delay, 50)), benchfmt.Dur(benchfmt.Pct(p.align, 50)),
		benchfmt.Dur(benchfmt.Pct(p.sync, 50)), benchfmt.Dur(benchfmt.Pct(p.async, 50)))
}

func (p *ckptPhases) add(s checkpoint.Stats) {
	p.delay = append(p.delay, s.StartDelay)
	p.align = append(p.align, s.AlignmentDuration)
	p.sync = append(p.sync, s.SyncDuration)
	p.async = append(p.async, s.AsyncDuration)
}

func (r runResult) rate() float64 { return float64(r.records) / r.visible.Seconds() }

// throughput pipes the pre-produced input topic into a fresh output topic
// with variant v and times it.
func (e *env) throughput(ctx context.Context, v variant, in string, round int, profile string) (res runResult, err error) {
	res = runResult{variant: v.name, round: round, records: e.o.records}
	name := e.topic(fmt.Sprintf("%s%d", v.name, round))
	out := name + "-out"
	if err := e.createTopics(ctx, out, out+"-dead-letters"); err != nil {
		return res, err
	}
	defer e.deleteTopics(context.WithoutCancel(ctx), out, out+"-dead-letters")
	defer e.removeState(name)

	ctx, cancel := context.WithTimeout(ctx, e.o.timeout)
	defer cancel()
	w, err := newWatcher(e.o.brokers, out, e.o.partitions, e.o.records, nil)
	if err != nil {
		return res, err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	go w.run(wctx)
	defer func() { stopWatch(); <-w.done }()
	if err := w.awaitFetching(ctx); err != nil {
		return res, err
	}

	rssReset := resetPeakRSS()
	r, err := e.start(ctx, v, name, in, out)
	if err != nil {
		return res, err
	}
	start := time.Now()
	hw := make(chan time.Time, 1)
	go func() { hw <- hwWatch(wctx, e.adm.adm, out, e.o.records) }()
	cpu0 := e.cpu.sample()
	var stopProf func() error
	if profile != "" {
		if stopProf, err = startProfile(profile, e.o.trace); err != nil {
			r.stop()
			return res, err
		}
	}
	select {
	case <-w.reached:
	case <-r.done:
		err = fmt.Errorf("pipeline stopped: %v", r.err)
	case <-ctx.Done():
		err = fmt.Errorf("%d of %d records visible after %s", w.n.Load(), e.o.records, e.o.timeout)
	}
	res.cpu = e.cpu.sample().sub(cpu0)
	if b := w.batches.Load(); b > 0 {
		res.perBatch = float64(w.batchRecords.Load()) / float64(b)
	}
	if stopProf != nil {
		if perr := stopProf(); perr != nil && err == nil {
			err = perr
		}
		progress("CPU profile of %s written to %s", v.name, profile)
		if e.o.trace {
			progress("execution trace of %s written to %s", v.name, tracePath(profile))
		}
	}
	if err == nil {
		err = w.failed()
	}
	if r.job != nil {
		for _, s := range r.job.Stats() {
			if s.Status == checkpoint.StatusCompleted && !s.TriggeredAt.Before(start) {
				res.checkpoints++
				res.ckptE2E = append(res.ckptE2E, s.Duration)
				res.phases.add(s)
			}
		}
	}
	if serr := r.stop(); serr != nil && err == nil {
		err = fmt.Errorf("stop: %w", serr)
	}
	if err != nil {
		return res, err
	}
	if rss := peakRSS(); rss > 0 && rssReset {
		// The whole process: the pipeline, the watching consumer, and
		// what the Go runtime kept of earlier runs' heap.
		progress("%s round %d: peak RSS %.1f MiB (VmHWM, reset before the run)", v.name, round, float64(rss)/(1<<20))
	}
	res.startup = r.startup
	res.visible = w.at.Sub(start)
	res.firstOut = time.Unix(0, w.first.Load()).Sub(start)
	// The high watermarks reached the count no later than the committed
	// records did; allow for the polling interval.
	select {
	case t := <-hw:
		if !t.IsZero() {
			res.written = t.Sub(start)
		}
	case <-time.After(5 * time.Second):
	}
	return res, nil
}

// latencyResult is one latency run.
type latencyResult struct {
	variant          string
	rate             float64
	produced, seen   int64
	unmatched        int64
	lat              []time.Duration // of records produced after the warm-up
	ckptE2E          []time.Duration
	phases           ckptPhases
	checkpoints      int64
	producedDuration time.Duration
	// inputLag is how far the producer fell behind its schedule at worst
	// (a tick's records included): above a few ms the machine could not
	// keep the rate and records were produced late.
	inputLag time.Duration
}

func (r latencyResult) pct(p float64) time.Duration { return benchfmt.Pct(r.lat, p) }

// sentTable remembers when each record of each key was produced, so that
// the count pipeline's outputs (key, n) find the time of the key's n-th
// record: a key's records stay in order (one partition, one task).
type sentTable struct {
	mu   sync.Mutex
	sent [][]int64
}

func (t *sentTable) add(k int, ns int64) {
	t.mu.Lock()
	t.sent[k] = append(t.sent[k], ns)
	t.mu.Unlock()
}

func (t *sentTable) lookup(k, n int) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k < 0 || k >= len(t.sent) || n < 1 || n > len(t.sent[k]) {
		return 0, false
	}
	return t.sent[k][n-1], true
}

// latency runs variant v on fresh topics while a producer writes rate
// records/s, and measures produce-to-visible latency per record.
func (e *env) latency(ctx context.Context, v variant, rate float64) (res latencyResult, err error) {
	res = latencyResult{variant: v.name, rate: rate}
	name := e.topic("lat-" + v.name)
	in, out := name+"-in", name+"-out"
	if err := e.createTopics(ctx, in, out, out+"-dead-letters"); err != nil {
		return res, err
	}
	defer e.deleteTopics(context.WithoutCancel(ctx), in, out, out+"-dead-letters")
	defer e.removeState(name)
	ctx, cancel := context.WithTimeout(ctx, e.o.timeout)
	defer cancel()

	table := &sentTable{sent: make([][]int64, e.o.keys)}
	// samples and unmatched belong to the watcher's goroutine until it is
	// done.
	type sample struct{ sent, lat int64 }
	var samples []sample
	var unmatched int64
	w, err := newWatcher(e.o.brokers, out, e.o.partitions, math.MaxInt64, func(now time.Time, recs []*kgo.Record) {
		t := now.UnixNano()
		for _, r := range recs {
			sent, ok := parseSent(r.Value)
			if !ok {
				k, kok := keyIndex(r.Key)
				n, nerr := strconv.Atoi(string(r.Value))
				if kok && nerr == nil {
					sent, ok = table.lookup(k, n)
				}
			}
			if !ok {
				unmatched++
				continue
			}
			samples = append(samples, sample{sent, t - sent})
		}
	})
	if err != nil {
		return res, err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	go w.run(wctx)
	watching := true
	defer func() {
		if watching {
			stopWatch()
			<-w.done
		}
	}()
	if err := w.awaitFetching(ctx); err != nil {
		return res, err
	}

	r, err := e.start(ctx, v, name, in, out)
	if err != nil {
		return res, err
	}
	defer r.stop()

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.o.brokers...), kgo.ClientID("pipebench-lat"),
		kgo.DefaultProduceTopic(in), kgo.ProducerLinger(0))
	if err != nil {
		return res, err
	}
	defer cl.Close()
	g := newGen(e.o.keys, e.o.valueSize, e.o.seed+1)
	var perr error
	var pmu sync.Mutex
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			pmu.Lock()
			perr = errors.Join(perr, err)
			pmu.Unlock()
		}
	}
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	for now := start; now.Sub(start) < e.o.latDuration; now = time.Now() {
		due := int64(rate * now.Sub(start).Seconds())
		if behind := time.Duration(float64(due-res.produced) / rate * float64(time.Second)); behind > res.inputLag {
			res.inputLag = behind
		}
		for ; res.produced < due; res.produced++ {
			sent := time.Now()
			k, key, val := g.next(sent)
			table.add(k, sent.UnixNano())
			cl.Produce(ctx, &kgo.Record{Key: key, Value: val}, promise)
		}
		select {
		case <-tick.C:
		case <-r.done:
			tick.Stop()
			return res, fmt.Errorf("pipeline stopped: %v", r.err)
		case <-ctx.Done():
			tick.Stop()
			return res, ctx.Err()
		}
	}
	tick.Stop()
	res.producedDuration = time.Since(start)
	if err := cl.Flush(ctx); err != nil {
		return res, err
	}
	pmu.Lock()
	err = perr
	pmu.Unlock()
	if err != nil {
		return res, fmt.Errorf("produce: %w", err)
	}
	// Wait for the last checkpoints to commit what was produced.
	wait := time.NewTicker(10 * time.Millisecond)
	defer wait.Stop()
	for w.n.Load() < res.produced {
		select {
		case <-wait.C:
		case <-r.done:
			return res, fmt.Errorf("pipeline stopped: %v", r.err)
		case <-ctx.Done():
			return res, fmt.Errorf("%d of %d records visible: %w", w.n.Load(), res.produced, ctx.Err())
		}
	}
	stopWatch()
	<-w.done
	watching = false
	if err := w.failed(); err != nil {
		return res, err
	}
	res.seen = w.n.Load()
	res.unmatched = unmatched
	if r.job != nil {
		for _, s := range r.job.Stats() {
			if s.Status == checkpoint.StatusCompleted && !s.TriggeredAt.Before(start.Add(e.o.latWarmup)) {
				res.checkpoints++
				res.ckptE2E = append(res.ckptE2E, s.Duration)
				res.phases.add(s)
			}
		}
	}
	from := start.Add(e.o.latWarmup).UnixNano()
	for _, s := range samples {
		if s.sent >= from {
			res.lat = append(res.lat, time.Duration(s.lat))
		}
	}
	if err := r.stop(); err != nil {
		return res, fmt.Errorf("stop: %w", err)
	}
	return res, nil
}
