package job_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/builtin"
)

// boundedSource is a SliceSource that ends (stop_at: end) once every
// record is read, and remembers where it was opened.
type boundedSource struct {
	builtin.SliceSource
	total    int64
	read     int64
	opened   *[]operators.Position
	openedMu *sync.Mutex
}

func (b *boundedSource) Open(ctx context.Context, restored []operators.Position) error {
	b.openedMu.Lock()
	*b.opened = append(*b.opened, restored...)
	b.openedMu.Unlock()
	for _, p := range restored {
		b.read += p.Offset
	}
	return b.SliceSource.Open(ctx, restored)
}

func (b *boundedSource) Poll(ctx context.Context) ([]operators.Record, int64, error) {
	recs, wm, err := b.SliceSource.Poll(ctx)
	b.read += int64(len(recs))
	return recs, wm, err
}

func (b *boundedSource) Ended() bool { return b.read >= b.total }

// lastPerKey keeps the last value per key over every attempt.
type lastPerKey struct {
	operators.Base
	mu   *sync.Mutex
	last map[string]string
}

func (l *lastPerKey) Process(_ context.Context, recs []operators.Record, _ operators.Collector) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		l.last[string(r.Key)] = string(r.Value)
	}
	return nil
}

// TestGraphJobRunsToTheEnd: a job graph of a source stage and two keyed
// stages joined by a hash edge on a computed key runs until its bounded
// source ends, takes a final checkpoint and returns; the checkpoint names
// its tasks by stage and its positions by source; a second run restores
// them by name.
func TestGraphJobRunsToTheEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var recs []operators.Record
	for i := range 500 {
		recs = append(recs, operators.Record{Key: []byte("u" + strconv.Itoa(i%17)), Value: []byte("x")})
	}
	mem := storage.NewMem()
	var openedMu sync.Mutex
	var opened []operators.Position
	out := &lastPerKey{mu: &sync.Mutex{}, last: map[string]string{}}
	graph := &operators.GraphSpec{Stages: []operators.StageSpec{
		{Name: "source:in", Source: "in", IsSource: true, Tasks: 1, SourceOuts: []operators.Edge{{Stage: "counts", To: "counts"}}},
		{Name: "counts", Tasks: 2, Stateful: true, Nodes: []operators.NodeSpec{
			{Name: "counts", New: func(int) (operators.Operator, error) { return &builtin.Count{}, nil },
				Outs: []operators.Edge{{Stage: "hist", To: "hist", Key: func(r operators.Record) ([]byte, error) { return r.Value, nil }}}},
		}},
		{Name: "hist", Tasks: 2, Stateful: true, Nodes: []operators.NodeSpec{
			{Name: "hist", New: func(int) (operators.Operator, error) { return &builtin.Count{}, nil }, Outs: []operators.Edge{{To: "out"}}},
			{Name: "out", New: func(int) (operators.Operator, error) { return out, nil }},
		}},
	}}
	var metas []*checkpoint.Metadata
	var metaMu sync.Mutex
	stateDir := t.TempDir()
	spec := func(input []operators.Record) job.Spec {
		return job.Spec{
			Name: "graph", MaxParallelism: 128, Parallelism: 2,
			Graph: graph,
			NewGraphSources: func() (map[string][]operators.Source, error) {
				src := &boundedSource{SliceSource: builtin.SliceSource{Topic: "in", Partitions: [][]operators.Record{input}, BatchSize: 50},
					total: int64(len(input)), opened: &opened, openedMu: &openedMu}
				return map[string][]operators.Source{"source:in": {src}}, nil
			},
			Description: []string{"stage name=counts", "stage name=hist"},
			Store:       mem, ExactlyOnce: true, StateDir: stateDir,
			Checkpoint: checkpoint.Config{Interval: 20 * time.Millisecond, Timeout: time.Minute, MaxConcurrent: 1, Retained: 2,
				OnComplete: func(m *checkpoint.Metadata) { metaMu.Lock(); metas = append(metas, m); metaMu.Unlock() }},
			Log: zaptest.NewLogger(t).Named("job"),
		}
	}
	j := job.New(spec(recs[:300]))
	if err := j.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !j.Finished() {
		t.Fatal("Run returned but the job did not finish its input")
	}
	metaMu.Lock()
	last := metas[len(metas)-1]
	metaMu.Unlock()
	if len(last.Sources) != 1 || last.Sources[0].Source != "in" || last.Sources[0].Stage != "source:in" || last.Sources[0].Positions[0].Offset != 300 {
		t.Errorf("final checkpoint's sources %+v, want source in at 300", last.Sources)
	}
	var stages []string
	for _, ts := range last.Tasks {
		stages = append(stages, ts.ID().String())
	}
	if got, want := stages, []string{"counts-0", "counts-1", "hist-0", "hist-1"}; !equalStrings(got, want) {
		t.Errorf("final checkpoint's tasks %v, want %v", got, want)
	}

	// A second run over the longer input restores the positions by source
	// name and the state of both stages.
	j2 := job.New(spec(recs))
	if err := j2.Run(ctx); err != nil {
		t.Fatal(err)
	}
	openedMu.Lock()
	if len(opened) != 1 || opened[0].Offset != 300 {
		t.Errorf("second run opened its source at %v, want offset 300", opened)
	}
	openedMu.Unlock()
	// Uninterrupted: hist's last value per count n is how many users
	// reached n.
	want := map[string]string{}
	counts := map[string]int{}
	hist := map[string]int{}
	for _, r := range recs {
		counts[string(r.Key)]++
		n := strconv.Itoa(counts[string(r.Key)])
		hist[n]++
		want[n] = strconv.Itoa(hist[n])
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	for k, v := range want {
		if out.last[k] != v {
			t.Errorf("count %s: %s users, want %s", k, out.last[k], v)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
