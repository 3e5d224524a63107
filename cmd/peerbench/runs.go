package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/internal/benchfmt"
	"github.com/tidemark/tidemark/internal/kafkabench"
)

// instance is where one run of a system reads, writes and keeps state.
type instance struct {
	id, out, dir string
}

// newInstance creates the output topic (and a dead-letter topic, which
// Tidemark's sink wants) of a run called name.
func (e *env) newInstance(ctx context.Context, s *system, name string) (instance, func(), error) {
	in := instance{id: e.topic(name), dir: filepath.Join(e.o.dir, name)}
	in.out = in.id + "-out"
	if err := e.createTopics(ctx, in.out, in.out+"-dead-letters"); err != nil {
		return in, nil, err
	}
	cleanup := func() {
		e.deleteTopics(context.Background(), append([]string{in.out, in.out + "-dead-letters"}, s.topics(in.id)...)...)
		if !e.o.keep {
			_ = os.RemoveAll(in.dir)
		}
	}
	return in, cleanup, nil
}

// runResult is one throughput run.
type runResult struct {
	system  string
	round   int
	records int64
	// startup: process start to ready; firstOutput: process start to the
	// first committed output seen; visible: ready to every output seen.
	startup, firstOutput, visible time.Duration
	// cpu: the child's CPU time from ready to every output seen;
	// cpuTotal: its whole life (rusage, start-up and the kill included).
	cpu, cpuTotal time.Duration
	brokerCPU     time.Duration
	peakRSS       int64
}

func (r runResult) rate() float64 { return float64(r.records) / r.visible.Seconds() }

func (r runResult) cpuPerRecord() float64 { return float64(r.cpu) / float64(r.records) }

// throughput runs s on the pre-produced input topic in into a fresh
// output topic until every output is visible, then checks the output.
func (e *env) throughput(ctx context.Context, s *system, in string, expected []int32, round int) (res runResult, err error) {
	res = runResult{system: s.name, round: round, records: e.o.records}
	inst, cleanup, err := e.newInstance(ctx, s, fmt.Sprintf("%s-%d", s.name, round))
	if err != nil {
		return res, err
	}
	defer cleanup()
	ctx, cancel := context.WithTimeout(ctx, e.o.timeout)
	defer cancel()
	r, err := e.newReader(inst.out, len(expected), e.o.records, nil)
	if err != nil {
		return res, err
	}
	rctx, stopReader := context.WithCancel(ctx)
	defer func() { stopReader(); <-r.done }()
	if err := r.start(rctx); err != nil {
		return res, err
	}
	p, err := e.launch(s, inst.id, in, inst.out, inst.dir, false)
	if err != nil {
		return res, err
	}
	defer p.kill()
	if err := p.awaitReady(ctx); err != nil {
		return res, err
	}
	cpu0, _ := p.sample()
	b0 := e.brokerCPU()
	select {
	case <-r.reached:
	case <-p.exited:
		return res, p.failure("exited")
	case <-ctx.Done():
		return res, p.failure(fmt.Sprintf("%d of %d outputs visible after %s", r.n.Load(), e.o.records, e.o.timeout))
	}
	cpu1, peak := p.sample()
	res.brokerCPU = e.brokerCPU() - b0
	if e.o.profile != "" && s.name == "tidemark" {
		p.terminate() // so that it writes its profiles
	}
	p.kill()
	stopReader()
	<-r.done
	if err := r.failed(); err != nil {
		return res, err
	}
	if err := r.check(expected); err != nil {
		return res, fmt.Errorf("%s, round %d: %w (its log: %s)", s.name, round, err, p.log)
	}
	res.startup = p.readyAt.Sub(p.started)
	res.firstOutput = r.first.Sub(p.started)
	res.visible = r.at.Sub(p.readyAt)
	res.cpu = cpu1 - cpu0
	res.cpuTotal = p.cpu
	// VmHWM of the process itself. Not rusage's maxrss: Linux carries the
	// high-water mark of the memory the child started in across exec, and
	// Go starts children with vfork (CLONE_VM), in this program's memory,
	// so maxrss is at least this program's own peak RSS (about 210 MiB
	// after checking 2 M outputs): every system then seemed to use that.
	res.peakRSS = peak
	if peak == 0 {
		res.peakRSS = p.maxRSS // not Linux
	}
	return res, nil
}

// brokerCPU is the broker's CPU time so far, 0 if unknown.
func (e *env) brokerCPU() time.Duration {
	if e.brokerPID <= 0 {
		return 0
	}
	d, _ := kafkabench.ProcCPU(e.brokerPID)
	return d
}

// latencyResult is one latency run.
type latencyResult struct {
	system    string
	rate      float64
	produced  int64
	lat       []time.Duration // of records produced after the warm-up
	inputLag  time.Duration
	unmatched int64
}

func (r latencyResult) pct(p float64) time.Duration { return benchfmt.Pct(r.lat, p) }

// sentTable remembers when each record of each key was produced, so that
// an output (key, n) finds the time of the key's n-th record.
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

// latency runs s on fresh topics while a producer writes rate records/s
// for o.latDuration, and measures produce-to-visible latency per record.
func (e *env) latency(ctx context.Context, s *system, rate float64) (res latencyResult, err error) {
	res = latencyResult{system: s.name, rate: rate}
	inst, cleanup, err := e.newInstance(ctx, s, "lat-"+s.name)
	if err != nil {
		return res, err
	}
	defer cleanup()
	in := inst.id + "-in"
	if err := e.createTopics(ctx, in); err != nil {
		return res, err
	}
	defer e.deleteTopics(context.Background(), in)
	ctx, cancel := context.WithTimeout(ctx, e.o.timeout)
	defer cancel()

	table := &sentTable{sent: make([][]int64, e.o.keys)}
	type sample struct{ sent, lat int64 }
	var samples []sample // the reader's until it is done
	var unmatched int64
	r, err := e.newReader(inst.out, e.o.keys, 1<<62, func(now time.Time, k, n int) {
		sent, ok := table.lookup(k, n)
		if !ok {
			unmatched++
			return
		}
		samples = append(samples, sample{sent, now.UnixNano() - sent})
	})
	if err != nil {
		return res, err
	}
	rctx, stopReader := context.WithCancel(ctx)
	readerDone := false
	defer func() {
		if !readerDone {
			stopReader()
			<-r.done
		}
	}()
	if err := r.start(rctx); err != nil {
		return res, err
	}
	p, err := e.launch(s, inst.id, in, inst.out, inst.dir, false)
	if err != nil {
		return res, err
	}
	defer p.kill()
	if err := p.awaitReady(ctx); err != nil {
		return res, err
	}
	cl, err := e.producer(in)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	g := kafkabench.NewGen(e.o.keys, e.o.valueSize, e.o.seed+1)
	var perr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			perr.CompareAndSwap(nil, &err)
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
			k, key, val := g.Next(sent)
			table.add(k, sent.UnixNano())
			cl.Produce(ctx, &kgo.Record{Key: key, Value: val}, promise)
		}
		select {
		case <-tick.C:
		case <-p.exited:
			tick.Stop()
			return res, p.failure("exited")
		case <-ctx.Done():
			tick.Stop()
			return res, ctx.Err()
		}
	}
	tick.Stop()
	if err := cl.Flush(ctx); err != nil {
		return res, err
	}
	if e := perr.Load(); e != nil {
		return res, fmt.Errorf("produce: %w", *e)
	}
	if err := awaitCount(ctx, r, p, res.produced); err != nil {
		return res, err
	}
	p.kill()
	stopReader()
	<-r.done
	readerDone = true
	if err := r.failed(); err != nil {
		return res, err
	}
	expected := make([]int32, e.o.keys)
	for k, ts := range table.sent {
		expected[k] = int32(len(ts))
	}
	if err := r.check(expected); err != nil {
		return res, fmt.Errorf("%s, latency run: %w (its log: %s)", s.name, err, p.log)
	}
	res.unmatched = unmatched
	from := start.Add(e.o.latWarmup).UnixNano()
	for _, s := range samples {
		if s.sent >= from {
			res.lat = append(res.lat, time.Duration(s.lat))
		}
	}
	return res, nil
}

// awaitCount waits until r has seen n outputs; fails if p exits or ctx
// ends first.
func awaitCount(ctx context.Context, r *reader, p *proc, n int64) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for r.n.Load() < n {
		select {
		case <-t.C:
		case <-p.exited:
			return p.failure(fmt.Sprintf("exited with %d of %d outputs visible", r.n.Load(), n))
		case <-ctx.Done():
			return p.failure(fmt.Sprintf("%d of %d outputs visible: %v", r.n.Load(), n, ctx.Err()))
		}
	}
	return nil
}

// recoveryResult is one recovery run.
type recoveryResult struct {
	system     string
	keys       int
	stateBytes int64         // the instance's directory at the kill (state and checkpoints)
	build      time.Duration // ready to every output of the state visible
	// ready: kill to the new instance ready; firstOutput: kill to the
	// first committed output of a probe; allProbes: kill to every probe's.
	ready, firstOutput, allProbes time.Duration
	peakRSS                       int64 // of the first instance
}

// recovery runs s on the recovery input (keys records, one per key, and
// the probes of the systems before: rounds records of each of the first
// o.recProbes keys) until every output is visible, SIGKILLs it, produces
// one more record of each of the first o.recProbes keys (the probes) and
// starts s again on the same state, and times the kill to the first
// committed output of a probe.
func (e *env) recovery(ctx context.Context, s *system, in string, keys, rounds int) (res recoveryResult, err error) {
	res = recoveryResult{system: s.name, keys: keys}
	inst, cleanup, err := e.newInstance(ctx, s, "rec-"+s.name)
	if err != nil {
		return res, err
	}
	defer cleanup()
	ctx, cancel := context.WithTimeout(ctx, e.o.recTimeout)
	defer cancel()
	probes := min(e.o.recProbes, keys)
	var firstProbe atomic.Int64
	before := int64(keys + rounds*probes) // the outputs before the kill
	r, err := e.newReader(inst.out, keys, before+int64(probes), func(now time.Time, _, n int) {
		if n == rounds+2 {
			firstProbe.CompareAndSwap(0, now.UnixNano())
		}
	})
	if err != nil {
		return res, err
	}
	rctx, stopReader := context.WithCancel(ctx)
	readerDone := false
	defer func() {
		if !readerDone {
			stopReader()
			<-r.done
		}
	}()
	if err := r.start(rctx); err != nil {
		return res, err
	}
	p, err := e.launch(s, inst.id, in, inst.out, inst.dir, false)
	if err != nil {
		return res, err
	}
	defer p.kill()
	if err := p.awaitReady(ctx); err != nil {
		return res, err
	}
	if err := awaitCount(ctx, r, p, before); err != nil {
		return res, err
	}
	res.build = time.Since(p.readyAt)
	_, res.peakRSS = p.sample()
	res.stateBytes = dirSize(inst.dir)

	kill := time.Now()
	p.kill()
	// The probes: one more record of each of the first keys, produced
	// while the system restarts.
	produced := make(chan error, 1)
	go func() {
		cl, err := e.producer(in)
		if err != nil {
			produced <- err
			return
		}
		defer cl.Close()
		g := e.recoveryGen(keys)
		produced <- produceAll(ctx, cl, int64(probes), func(i int64) *kgo.Record {
			return &kgo.Record{Key: g.Key(int(i)), Value: g.Value(time.Now())}
		})
	}()
	p2, err := e.launch(s, inst.id, in, inst.out, inst.dir, true)
	if err != nil {
		return res, err
	}
	defer p2.kill()
	if err := p2.awaitReady(ctx); err != nil {
		return res, err
	}
	res.ready = p2.readyAt.Sub(kill)
	if err := <-produced; err != nil {
		return res, fmt.Errorf("produce the probes: %w", err)
	}
	select {
	case <-r.reached:
	case <-p2.exited:
		return res, p2.failure("exited")
	case <-ctx.Done():
		return res, p2.failure(fmt.Sprintf("%d of %d outputs visible after the restart: %v", r.n.Load(), before+int64(probes), ctx.Err()))
	}
	res.allProbes = r.at.Sub(kill)
	p2.kill()
	stopReader()
	<-r.done
	readerDone = true
	if err := r.failed(); err != nil {
		return res, err
	}
	expected := make([]int32, keys)
	for k := range expected {
		expected[k] = 1
		if k < probes {
			expected[k] = int32(rounds + 2)
		}
	}
	if err := r.check(expected); err != nil {
		return res, fmt.Errorf("%s, recovery run: %w (its logs: %s, %s)", s.name, err, p.log, p2.log)
	}
	ns := firstProbe.Load()
	if ns == 0 {
		return res, errors.New("no probe output seen")
	}
	res.firstOutput = time.Unix(0, ns).Sub(kill)
	return res, nil
}
