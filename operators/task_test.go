package operators_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/builtin"
	"github.com/tidemark/tidemark/operators/state"
)

// batch is what a gateSource's Poll returns next.
type batch struct {
	recs []operators.Record
	wm   int64 // 0: unchanged
	idle bool  // the source is idle after this batch
	end  bool  // the source ended after this batch
}

// gateSource returns the batches the test sends it. A stuck source
// ignores Poll's context (a Poll blocked in the network, say), so that its
// barrier waits until the test sends its next batch.
type gateSource struct {
	batches chan batch
	stuck   bool
	done    chan struct{} // closed at the end of the test
	once    sync.Once

	polls atomic.Int64
	idle  atomic.Bool
	ended atomic.Bool
	wm    int64
	read  int64
}

func newGate(t *testing.T, stuck bool) *gateSource {
	s := &gateSource{batches: make(chan batch, 16), stuck: stuck, done: make(chan struct{}), wm: math.MinInt64}
	t.Cleanup(s.unstick)
	return s
}

// unstick ends a stuck Poll for good.
func (s *gateSource) unstick() { s.once.Do(func() { close(s.done) }) }

func (s *gateSource) Open(_ context.Context, restored []operators.Position) error {
	for _, p := range restored {
		s.read = p.Offset
	}
	return nil
}

func (s *gateSource) Poll(ctx context.Context) ([]operators.Record, int64, error) {
	s.polls.Add(1)
	var b batch
	if s.stuck {
		select {
		case b = <-s.batches:
		case <-s.done:
			return nil, s.wm, nil
		}
	} else {
		select {
		case b = <-s.batches:
		case <-ctx.Done():
			return nil, s.wm, nil
		}
	}
	s.read += int64(len(b.recs))
	if b.wm != 0 {
		s.wm = max(s.wm, b.wm)
	}
	s.idle.Store(b.idle)
	if b.end {
		s.ended.Store(true)
	}
	return b.recs, s.wm, nil
}

func (s *gateSource) Positions() []operators.Position {
	return []operators.Position{{Topic: "t", Offset: s.read}}
}

func (s *gateSource) NotifyCheckpointComplete(context.Context, int64, []operators.Position) error {
	return nil
}
func (s *gateSource) Close() error { return nil }
func (s *gateSource) Idle() bool   { return s.idle.Load() }
func (s *gateSource) Ended() bool  { return s.ended.Load() }

// acks is a Checkpointer that keeps what tasks acknowledge.
type acks struct {
	mu      sync.Mutex
	sources []operators.SourceSnapshot
	tasks   []operators.TaskSnapshot
	decl    []error
}

func (a *acks) SourceSnapshot(s operators.SourceSnapshot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sources = append(a.sources, s)
}

func (a *acks) TaskSnapshot(s operators.TaskSnapshot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tasks = append(a.tasks, s)
}

func (a *acks) Decline(task operators.TaskID, id int64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.decl = append(a.decl, fmt.Errorf("%s declined %d: %w", task, id, err))
}

// task returns the snapshot task id acknowledged for checkpoint cp.
func (a *acks) task(id operators.TaskID, cp int64) (operators.TaskSnapshot, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.tasks {
		if s.Task == id && s.CheckpointID == cp {
			return s, true
		}
	}
	return operators.TaskSnapshot{}, false
}

func (a *acks) count(cp int64) (sources, tasks int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.sources {
		if s.CheckpointID == cp {
			sources++
		}
	}
	for _, s := range a.tasks {
		if s.CheckpointID == cp {
			tasks++
		}
	}
	return sources, tasks
}

// events is a log the test reads while tasks write it.
type events struct {
	mu  sync.Mutex
	log []string
	// snaps are the records seen (port:value) at each checkpoint.
	snaps map[int64][]string
	seen  []string
}

func newEvents() *events { return &events{snaps: map[int64][]string{}} }

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

func (e *events) snap(id int64) ([]string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.snaps[id]
	return slices.Clone(s), ok
}

func (e *events) seenNow() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.seen)
}

// recorder is a two-input operator that logs every record (port:value)
// and watermark, forwards records, and remembers what it had seen at each
// snapshot.
type recorder struct {
	operators.Base
	ev *events
}

func (r *recorder) ProcessInput(_ context.Context, port int, recs []operators.Record, out operators.Collector) error {
	r.ev.mu.Lock()
	for _, rec := range recs {
		s := fmt.Sprintf("%d:%s", port, rec.Value)
		r.ev.seen = append(r.ev.seen, s)
		r.ev.log = append(r.ev.log, "rec:"+string(rec.Value))
		out.Emit(rec)
	}
	r.ev.mu.Unlock()
	return nil
}

func (r *recorder) Process(ctx context.Context, recs []operators.Record, out operators.Collector) error {
	return r.ProcessInput(ctx, 0, recs, out)
}

func (r *recorder) OnWatermark(_ context.Context, wm int64, _ operators.Collector) error {
	r.ev.add("wm:" + strconv.FormatInt(wm, 10))
	return nil
}

func (r *recorder) SnapshotState(_ context.Context, id int64) error {
	r.ev.mu.Lock()
	defer r.ev.mu.Unlock()
	r.ev.snaps[id] = slices.Clone(r.ev.seen)
	return nil
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func rec(v string) operators.Record { return operators.Record{Key: []byte("k"), Value: []byte(v)} }

// run runs g until the test ends; a task's error fails the test.
func run(t *testing.T, g *operators.Graph) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("graph: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("graph did not stop")
		}
	})
}

// twoInputs is the plan of two sources feeding the two inputs of one
// operator, join, in a stage of its own.
func twoInputs(newJoin func(int) (operators.Operator, error)) operators.GraphSpec {
	return operators.GraphSpec{Stages: []operators.StageSpec{
		{Name: "source:a", Source: "a", IsSource: true, Tasks: 1, SourceOuts: []operators.Edge{{Stage: "join", To: "join", ToPort: 0}}},
		{Name: "source:b", Source: "b", IsSource: true, Tasks: 1, SourceOuts: []operators.Edge{{Stage: "join", To: "join", ToPort: 1}}},
		{Name: "join", Tasks: 1, Nodes: []operators.NodeSpec{{Name: "join", New: newJoin}}},
	}}
}

// alignmentSetup runs a1 and b1 through join, triggers checkpoint 1 (a's
// barrier goes out, b's is stuck behind its Poll), and sends a2 after a's
// barrier.
func alignmentSetup(t *testing.T, cfg operators.GraphConfig) (*events, *acks, *gateSource) {
	ev := newEvents()
	a, b := newGate(t, false), newGate(t, true)
	ck := &acks{}
	g, err := operators.NewDAG(cfg, twoInputs(func(int) (operators.Operator, error) { return &recorder{ev: ev}, nil }),
		map[string][]operators.Source{"source:a": {a}, "source:b": {b}}, nil, operators.Restored{}, ck)
	if err != nil {
		t.Fatal(err)
	}
	run(t, g)
	t.Cleanup(b.unstick) // before the graph stops
	a.batches <- batch{recs: []operators.Record{rec("a1")}}
	b.batches <- batch{recs: []operators.Record{rec("b1")}}
	waitFor(t, "a1 and b1", func() bool { return len(ev.seenNow()) == 2 })
	g.Trigger(1)
	waitFor(t, "a's barrier", func() bool { s, _ := ck.count(1); return s == 1 })
	p := a.polls.Load()
	a.batches <- batch{recs: []operators.Record{rec("a2")}}
	// a polls again once a2 is on its way to join.
	waitFor(t, "a2 sent", func() bool { return a.polls.Load() > p })
	return ev, ck, b
}

// TestAlignmentAcrossTwoInputs: with exactly-once, a record that follows
// the barrier on one input of a two-input operator waits until the other
// input's barrier arrived; the snapshot holds what came before the barrier
// on each input, and nothing after it.
func TestAlignmentAcrossTwoInputs(t *testing.T) {
	ev, ck, b := alignmentSetup(t, operators.GraphConfig{ExactlyOnce: true, LocalDir: t.TempDir()})
	if _, ok := ev.snap(1); ok {
		t.Fatal("join snapshotted before its second input's barrier")
	}
	b.batches <- batch{recs: []operators.Record{rec("b2")}}
	waitFor(t, "join's snapshot", func() bool { _, ok := ck.task(operators.TaskID{Stage: "join"}, 1); return ok })
	got, _ := ev.snap(1)
	slices.Sort(got)
	if want := []string{"0:a1", "1:b1", "1:b2"}; !slices.Equal(got, want) {
		t.Errorf("snapshot holds %v, want %v (a2 came after a's barrier)", got, want)
	}
	waitFor(t, "a2 after the checkpoint", func() bool { return slices.Contains(ev.seenNow(), "0:a2") })
	snap, _ := ck.task(operators.TaskID{Stage: "join"}, 1)
	if snap.Unaligned || len(snap.InFlight) > 0 || snap.Dir != "" {
		t.Errorf("aligned snapshot of a stateless task: unaligned %v, in-flight %v, dir %q", snap.Unaligned, snap.InFlight, snap.Dir)
	}
}

// TestUnalignedInFlightPerPort: when alignment times out, the task
// snapshots at once; what then arrives on the input still before its
// barrier is kept as in-flight data tagged with its operator and port, and
// a restore replays it through the same port.
func TestUnalignedInFlightPerPort(t *testing.T) {
	ev, ck, b := alignmentSetup(t, operators.GraphConfig{ExactlyOnce: true, AlignmentTimeout: 20 * time.Millisecond, LocalDir: t.TempDir()})
	waitFor(t, "the timed-out snapshot", func() bool { _, ok := ev.snap(1); return ok })
	got, _ := ev.snap(1)
	slices.Sort(got)
	if want := []string{"0:a1", "1:b1"}; !slices.Equal(got, want) {
		t.Errorf("snapshot holds %v, want %v", got, want)
	}
	b.batches <- batch{recs: []operators.Record{rec("b2"), rec("b3")}}
	id := operators.TaskID{Stage: "join"}
	waitFor(t, "join's acknowledgement", func() bool { _, ok := ck.task(id, 1); return ok })
	snap, _ := ck.task(id, 1)
	if !snap.Unaligned {
		t.Error("checkpoint not unaligned")
	}
	if len(snap.InFlight) != 1 || snap.InFlight[0].Node != "join" || snap.InFlight[0].Port != 1 || len(snap.InFlight[0].Records) != 2 {
		t.Fatalf("in-flight %+v, want b2 and b3 for join port 1", snap.InFlight)
	}

	// Restore: the in-flight records go through port 1 before anything
	// else.
	ev2 := newEvents()
	a2, b2 := newGate(t, false), newGate(t, false)
	g, err := operators.NewDAG(operators.GraphConfig{ExactlyOnce: true}, twoInputs(func(int) (operators.Operator, error) { return &recorder{ev: ev2}, nil }),
		map[string][]operators.Source{"source:a": {a2}, "source:b": {b2}}, nil,
		operators.Restored{Checkpoint: 1, InFlight: map[operators.TaskID][]operators.InFlight{id: snap.InFlight}}, &acks{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, g)
	a2.batches <- batch{recs: []operators.Record{rec("a9")}}
	waitFor(t, "the replay and a9", func() bool { return len(ev2.seenNow()) == 3 })
	if got, want := ev2.seenNow(), []string{"1:b2", "1:b3", "0:a9"}; !slices.Equal(got, want) {
		t.Errorf("after restore join saw %v, want %v", got, want)
	}
}

// TestInFlightOfUnknownOperator: in-flight records for an operator the job
// no longer has refuse the restore, naming it.
func TestInFlightOfUnknownOperator(t *testing.T) {
	ev := newEvents()
	id := operators.TaskID{Stage: "join"}
	g, err := operators.NewDAG(operators.GraphConfig{}, twoInputs(func(int) (operators.Operator, error) { return &recorder{ev: ev}, nil }),
		map[string][]operators.Source{"source:a": {newGate(t, false)}, "source:b": {newGate(t, false)}}, nil,
		operators.Restored{InFlight: map[operators.TaskID][]operators.InFlight{id: {{Node: "gone", Records: []operators.Record{rec("x")}}}}}, &acks{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = g.Run(ctx)
	if !errors.Is(err, operators.ErrInFlightTarget) || !strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("got %v, want ErrInFlightTarget", err)
	}
}

// onWatermarkEmitter emits one record each time the watermark advances.
type onWatermarkEmitter struct{ operators.Base }

func (onWatermarkEmitter) OnWatermark(_ context.Context, wm int64, out operators.Collector) error {
	out.Emit(operators.Record{Key: []byte("w"), Value: []byte("fired@" + strconv.FormatInt(wm, 10))})
	return nil
}

// TestWatermarkMinOverActiveInputs: a task's watermark is the minimum over
// its inputs that are not idle; an idle input stops holding it back until
// it sends a watermark again; what an operator emits on a watermark runs
// through its successors before they see the watermark.
func TestWatermarkMinOverActiveInputs(t *testing.T) {
	ev := newEvents()
	a, b := newGate(t, false), newGate(t, false)
	spec := operators.GraphSpec{Stages: []operators.StageSpec{
		{Name: "source:a", Source: "a", IsSource: true, Tasks: 1, SourceOuts: []operators.Edge{{Stage: "w", To: "fire"}}},
		{Name: "source:b", Source: "b", IsSource: true, Tasks: 1, SourceOuts: []operators.Edge{{Stage: "w", To: "fire"}}},
		{Name: "w", Tasks: 1, Nodes: []operators.NodeSpec{
			{Name: "fire", New: func(int) (operators.Operator, error) { return onWatermarkEmitter{}, nil }, Outs: []operators.Edge{{To: "log"}}},
			{Name: "log", New: func(int) (operators.Operator, error) { return &recorder{ev: ev}, nil }},
		}},
	}}
	g, err := operators.NewDAG(operators.GraphConfig{}, spec, map[string][]operators.Source{"source:a": {a}, "source:b": {b}}, nil, operators.Restored{}, &acks{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, g)
	step := func(s *gateSource, bt batch, want ...string) {
		t.Helper()
		s.batches <- bt
		waitFor(t, fmt.Sprint(want), func() bool { return len(ev.all()) >= len(want) })
		if got := ev.all(); !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	a.batches <- batch{wm: 10} // b has none yet: no watermark
	want := []string{"rec:fired@5", "wm:5"}
	step(b, batch{wm: 5}, want...)
	want = append(want, "rec:fired@10", "wm:10")
	step(b, batch{idle: true}, want...) // b idle: a alone holds the watermark
	// b active again, ahead of a: no change but its record.
	want = append(want, "rec:b")
	step(b, batch{wm: 20, recs: []operators.Record{rec("b")}}, want...)
	want = append(want, "rec:fired@20", "wm:20")
	step(a, batch{wm: 30}, want...)
}

// TestStopAtEnd: a bounded source that reached its end emits watermark
// +inf (every timer fires downstream) and the graph says so once every
// source ended.
func TestStopAtEnd(t *testing.T) {
	ev := newEvents()
	a, b := newGate(t, false), newGate(t, false)
	g, err := operators.NewDAG(operators.GraphConfig{}, twoInputs(func(int) (operators.Operator, error) { return &recorder{ev: ev}, nil }),
		map[string][]operators.Source{"source:a": {a}, "source:b": {b}}, nil, operators.Restored{}, &acks{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, g)
	a.batches <- batch{recs: []operators.Record{rec("a1")}, wm: 7, end: true}
	b.batches <- batch{recs: []operators.Record{rec("b1")}, wm: 3}
	waitFor(t, "watermark 3", func() bool { return slices.Contains(ev.all(), "wm:3") })
	select {
	case <-g.Ended():
		t.Fatal("graph ended while b has not")
	default:
	}
	b.batches <- batch{end: true}
	select {
	case <-g.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("graph did not end")
	}
	waitFor(t, "watermark +inf", func() bool { return slices.Contains(ev.all(), "wm:"+strconv.FormatInt(math.MaxInt64, 10)) })
}

// lastValues is a sink keeping the last value per key.
type lastValues struct {
	operators.Base
	mu   *sync.Mutex
	last map[string]string
	n    *atomic.Int64
}

func (l *lastValues) Process(_ context.Context, recs []operators.Record, _ operators.Collector) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		l.last[string(r.Key)] = string(r.Value)
		l.n.Add(1)
	}
	return nil
}

// twoStages is source → counts (count per key) ⇒ hash by count ⇒ hist
// (count per count value) → pass (a passthrough: a Forwarder) → out, two
// tasks per stateful stage.
func twoStages(out *lastValues) operators.GraphSpec {
	return operators.GraphSpec{Stages: []operators.StageSpec{
		{Name: "source:in", Source: "in", IsSource: true, Tasks: 1, SourceOuts: []operators.Edge{{Stage: "counts", To: "counts"}}},
		{Name: "counts", Tasks: 2, Stateful: true, Nodes: []operators.NodeSpec{
			{Name: "counts", New: func(int) (operators.Operator, error) { return &builtin.Count{}, nil },
				Outs: []operators.Edge{{Stage: "hist", To: "hist", Key: func(r operators.Record) ([]byte, error) { return r.Value, nil }}}},
		}},
		{Name: "hist", Tasks: 2, Stateful: true, Nodes: []operators.NodeSpec{
			{Name: "hist", New: func(int) (operators.Operator, error) { return &builtin.Count{}, nil }, Outs: []operators.Edge{{To: "pass"}}},
			{Name: "pass", New: func(int) (operators.Operator, error) { return &builtin.Passthrough{}, nil }, Outs: []operators.Edge{{To: "out"}}},
			{Name: "out", New: func(int) (operators.Operator, error) { return out, nil }},
		}},
	}}
}

func openBackends(t *testing.T, dir string, from map[operators.TaskID]string) map[operators.TaskID]*state.Backend {
	t.Helper()
	bs := map[operators.TaskID]*state.Backend{}
	for _, stage := range []string{"counts", "hist"} {
		for i := range 2 {
			id := operators.TaskID{Stage: stage, Index: i}
			start, end := operators.KeyGroupRange(i, 128, 2)
			opts := state.Options{MaxParallelism: 128, KeyGroups: state.KeyGroupRange{Start: start, End: end}}
			live := filepath.Join(dir, "live", id.String())
			var b *state.Backend
			var err error
			if src, ok := from[id]; ok {
				b, err = state.OpenFrom(src, live, opts)
			} else {
				b, err = state.Open(live, opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			bs[id] = b
		}
	}
	return bs
}

// TestTwoStageRestoreEquivalence: a job of two keyed stages joined by a
// hash edge on a computed key, checkpointed half-way, killed and restored
// into fresh state directories from its task snapshots, ends with the
// same results as an uninterrupted run.
func TestTwoStageRestoreEquivalence(t *testing.T) {
	var input []operators.Record
	for i := range 400 {
		input = append(input, operators.Record{Key: []byte("user" + strconv.Itoa(i*7%23)), Value: []byte("x")})
	}
	runAll := func(t *testing.T, dir string, restored operators.Restored, from map[operators.TaskID]string, recs []operators.Record, checkpoint bool) (map[string]string, *acks, []operators.Position) {
		out := &lastValues{mu: &sync.Mutex{}, last: map[string]string{}, n: &atomic.Int64{}}
		src := newGate(t, false)
		ck := &acks{}
		g, err := operators.NewDAG(operators.GraphConfig{ExactlyOnce: true, LocalDir: filepath.Join(dir, "chk")}, twoStages(out),
			map[string][]operators.Source{"source:in": {src}}, openBackends(t, dir, from), restored, ck)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		for i := 0; i < len(recs); i += 25 {
			src.batches <- batch{recs: recs[i:min(i+25, len(recs))]}
		}
		waitFor(t, "every record", func() bool { return out.n.Load() >= int64(len(recs)) })
		var pos []operators.Position
		if checkpoint {
			g.Trigger(1)
			waitFor(t, "checkpoint 1", func() bool { s, n := ck.count(1); return s == 1 && n == 4 })
			ck.mu.Lock()
			pos = ck.sources[0].Positions
			ck.mu.Unlock()
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		out.mu.Lock()
		defer out.mu.Unlock()
		ck.mu.Lock()
		defer ck.mu.Unlock()
		if len(ck.decl) > 0 {
			t.Fatal(ck.decl)
		}
		return out.last, ck, pos
	}
	want, _, _ := runAll(t, t.TempDir(), operators.Restored{}, nil, input, false)

	dir := t.TempDir()
	first, ck, pos := runAll(t, dir, operators.Restored{}, nil, input[:200], true)
	if len(pos) != 1 || pos[0].Offset != 200 {
		t.Fatalf("positions %v, want offset 200", pos)
	}
	from := map[operators.TaskID]string{}
	for _, s := range ck.tasks {
		if s.Dir == "" {
			t.Fatalf("stateful task %s snapshotted no state", s.Task)
		}
		if s.FirstBarrier.IsZero() {
			t.Errorf("task %s's snapshot has no first barrier time", s.Task)
		}
		from[s.Task] = s.Dir
	}
	got, _, _ := runAll(t, t.TempDir(), operators.Restored{Checkpoint: 1, Positions: map[string][]operators.Position{"in": pos}}, from, input[200:], false)
	if len(got) == 0 {
		t.Fatal("restored run produced nothing")
	}
	// hist's last value per count n is how many users reached n: the
	// first run's output up to its checkpoint, then the restored run's.
	maps.Copy(first, got)
	if !maps.Equal(first, want) {
		t.Errorf("interrupted and restored: %v\nuninterrupted: %v", first, want)
	}
}

// blockingRecorder logs completions and snapshots, and blocks in the
// processing of the record "block" until release is closed.
type blockingRecorder struct {
	operators.Base
	ev      *events
	blocked chan struct{}
	release chan struct{}
}

func (r *blockingRecorder) ProcessInput(_ context.Context, _ int, recs []operators.Record, _ operators.Collector) error {
	for _, rec := range recs {
		if string(rec.Value) == "block" {
			close(r.blocked)
			<-r.release
		}
	}
	return nil
}

func (r *blockingRecorder) Process(ctx context.Context, recs []operators.Record, out operators.Collector) error {
	return r.ProcessInput(ctx, 0, recs, out)
}

func (r *blockingRecorder) SnapshotState(_ context.Context, id int64) error {
	r.ev.add("snap:" + strconv.FormatInt(id, 10))
	return nil
}

func (r *blockingRecorder) NotifyCheckpointComplete(_ context.Context, id int64) error {
	r.ev.add("notify:" + strconv.FormatInt(id, 10))
	return nil
}

// TestCompletionsBeforeSnapshot: a channel task applies the completions
// already in its mail before it snapshots, even when its last barrier is
// as ready as the mail (a select would pick either). Otherwise a crash
// right after the next checkpoint's metadata can leave a completed
// checkpoint committed by some tasks only. The race is random without the
// rule, so the scenario runs 20 times.
func TestCompletionsBeforeSnapshot(t *testing.T) {
	for i := range 20 {
		ev := newEvents()
		r := &blockingRecorder{ev: ev, blocked: make(chan struct{}), release: make(chan struct{})}
		a, b := newGate(t, false), newGate(t, false)
		ck := &acks{}
		g, err := operators.NewDAG(operators.GraphConfig{}, twoInputs(func(int) (operators.Operator, error) { return r, nil }),
			map[string][]operators.Source{"source:a": {a}, "source:b": {b}}, nil, operators.Restored{}, ck)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		b.batches <- batch{recs: []operators.Record{rec("block")}}
		<-r.blocked
		g.Trigger(1)
		waitFor(t, "both barriers sent", func() bool { s, _ := ck.count(1); return s == 2 })
		g.NotifyComplete(7, nil) // a completion queued while both barriers wait
		close(r.release)
		waitFor(t, "snapshot 1", func() bool { return slices.Contains(ev.all(), "snap:1") })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		b.unstick()
		a.unstick()
		if got := ev.all(); len(got) < 2 || got[0] != "notify:7" || got[1] != "snap:1" {
			t.Fatalf("run %d: %v, want the completion applied before the snapshot", i, got)
		}
	}
}
