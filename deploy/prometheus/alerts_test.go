package prometheus_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/drill"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/faulty"
	"github.com/tidemark/tidemark/internal/alerteval"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/job"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/source"
)

// sourceOnly is a job graph of one source task: the coordinator's
// checkpoints complete as soon as the task sends its part, or fail when
// the test makes the task decline.
type sourceOnly struct {
	c       *checkpoint.Coordinator
	decline atomic.Bool
}

var task = operators.TaskID{Stage: "source", Index: 0}

func (g *sourceOnly) Tasks() []operators.TaskID { return []operators.TaskID{task} }
func (g *sourceOnly) Trigger(id int64) {
	if g.decline.Load() {
		g.c.Decline(task, id, fmt.Errorf("declined by the test"))
		return
	}
	g.c.SourceSnapshot(operators.SourceSnapshot{Task: task, CheckpointID: id, Positions: []operators.Position{{Topic: "in", Offset: id}}})
}
func (g *sourceOnly) TriggerFinal(id int64)                                           { g.Trigger(id) }
func (g *sourceOnly) NotifyComplete(int64, map[operators.TaskID][]operators.Position) {}

// rig runs the processor's metrics on a fake clock: a checkpoint
// coordinator on checkpoint storage that can fail, a Kafka source on an
// in-process broker, the scheduled recovery drill, all registered on one
// registry that is scraped through the /metrics handler into a history.
type rig struct {
	t        *testing.T
	ctx      context.Context
	now      atomic.Int64 // unix nanoseconds
	faults   *faulty.Store
	coord    *checkpoint.Coordinator
	graph    *sourceOnly
	outcomes chan string
	drill    *drill.Scheduler
	lag      *source.Metrics
	adm      *kadm.Client
	producer *kgo.Client
	scrape   *httptest.Server
	history  *alerteval.History
	rules    []alerteval.Rule
}

const interval = 30 * time.Second

func newRig(t *testing.T) *rig {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	r := &rig{t: t, ctx: ctx, outcomes: make(chan string, 16), history: alerteval.NewHistory()}
	r.now.Store(time.Unix(1_800_000_000, 0).UnixNano())
	now := func() time.Time { return time.Unix(0, r.now.Load()) }
	var err error
	if r.rules, err = alerteval.LoadRules("alerts.yaml"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	jm, err := job.NewMetrics(reg, now)
	if err != nil {
		t.Fatal(err)
	}
	r.faults = faulty.New(storage.NewMem())
	st, err := storage.WrapWithMetrics(r.faults, reg)
	if err != nil {
		t.Fatal(err)
	}
	st = checkpoint.JobStore(st, "alerts")
	cfg := checkpoint.Config{
		Job: "alerts", MaxParallelism: 128, Interval: interval, Timeout: time.Minute, MaxConcurrent: 1,
		TolerableFailures: 1 << 20, Retained: 2, LocalDir: t.TempDir(), Log: zaptest.NewLogger(t), Now: now, Metrics: jm.Checkpoint,
		OnComplete: func(*checkpoint.Metadata) { r.outcomes <- "completed" },
		OnFailure:  func(checkpoint.Stats) { r.outcomes <- "failed" },
	}
	if r.coord, err = checkpoint.New(ctx, cfg, st, nil); err != nil {
		t.Fatal(err)
	}
	r.graph = &sourceOnly{c: r.coord}
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.coord.Run(cctx, r.graph) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("coordinator: %v", err)
		}
	})
	if r.drill, err = drill.NewScheduler(drill.SchedulerConfig{Store: st, Interval: time.Hour, ScratchDir: t.TempDir(), Registerer: reg}); err != nil {
		t.Fatal(err)
	}

	// The source: partition in[0] on an in-process broker.
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	base := []kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}
	if r.lag, err = source.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.Job.Name, c.Source.Topics, c.Source.StartOffset = "alerts", []string{"in"}, config.StartEarliest
	src := source.NewKafka(&c, base, 0, 1, zap.NewNop(), source.WithMetrics(r.lag))
	t.Cleanup(func() { _ = src.Close() })
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if r.producer, err = kgo.NewClient(base...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.producer.Close)
	r.adm = kadm.NewClient(r.producer)

	r.scrape = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(r.scrape.Close)
	return r
}

// step advances the clock by one checkpoint interval, waits for the
// checkpoint it triggers to complete or fail, writes produce records to
// the source's partition (none read), and scrapes.
func (r *rig) step(produce int) {
	r.t.Helper()
	r.now.Add(int64(interval))
	// Wake the coordinator, asleep on a real timer, to see the new time:
	// a part of no checkpoint in flight is ignored.
	r.coord.SourceSnapshot(operators.SourceSnapshot{Task: task, CheckpointID: -1})
	select {
	case <-r.outcomes:
	case <-r.ctx.Done():
		r.t.Fatal("no checkpoint outcome")
	}
	for i := range produce {
		r.producer.Produce(r.ctx, &kgo.Record{Topic: "in", Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := r.producer.Flush(r.ctx); err != nil {
		r.t.Fatal(err)
	}
	if err := r.lag.UpdateEndOffsets(r.ctx, r.adm); err != nil {
		r.t.Fatal(err)
	}
	resp, err := r.scrape.Client().Get(r.scrape.URL)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		r.t.Fatal(err)
	}
	if err := r.history.Scrape(time.Unix(0, r.now.Load()), &body); err != nil {
		r.t.Fatal(err)
	}
}

// firing returns the alerts that fire now.
func (r *rig) firing() []string {
	r.t.Helper()
	var out []string
	for _, rule := range r.rules {
		s, err := r.history.Firing(rule, time.Unix(0, r.now.Load()))
		if err != nil {
			r.t.Fatalf("alert %s: %v", rule.Alert, err)
		}
		if len(s) > 0 {
			out = append(out, rule.Alert)
		}
	}
	sort.Strings(out)
	return out
}

// TestAlertRules: the rules of alerts.yaml, evaluated over the scrapes of
// a processor's registry every checkpoint interval. While checkpoints
// complete, the input is read and the drill passes, none fires. When the
// input outgrows the job, only the lag alert fires. When checkpoint
// storage fails, the storage, checkpoint-failure and stalled-checkpoint
// alerts fire, and the recovery drill, unable to read the storage, fires
// too.
func TestAlertRules(t *testing.T) {
	r := newRig(t)
	want := func(phase string, alerts ...string) {
		t.Helper()
		if got := r.firing(); !slices.Equal(got, alerts) {
			t.Errorf("%s: firing %v, want %v", phase, got, alerts)
		}
	}
	var names []string
	for _, rule := range r.rules {
		names = append(names, rule.Alert)
	}
	if want := []string{"TidemarkCheckpointStalled", "TidemarkCheckpointFailuresRising", "TidemarkConsumerLagGrowing",
		"TidemarkRecoveryDrillFailed", "TidemarkStorageErrors"}; !slices.Equal(names, want) {
		t.Errorf("alerts.yaml holds %v, want %v (each tested below)", names, want)
	}
	// Healthy: 20 minutes, a drill that passes halfway.
	for i := range 40 {
		r.step(0)
		if i == 20 {
			if st, ok := r.drill.RunOnce(r.ctx); !ok || st.Result != drill.ResultPassed {
				t.Fatalf("drill of a healthy checkpoint: %+v %v", st, ok)
			}
		}
		if i >= 1 {
			want(fmt.Sprintf("healthy, minute %.1f", float64(i+1)/2))
		}
	}
	// The input outgrows the job: 300 records per interval, none read.
	for range 20 {
		r.step(300)
	}
	want("lag growing for 10 minutes", "TidemarkConsumerLagGrowing")
	// Lag large but steady: the alert ends.
	for range 22 {
		r.step(0)
	}
	want("lag steady for 11 minutes")
	// Storage fails every write: checkpoints fail; the drill cannot run.
	in := r.faults.Inject(faulty.Rule{Ops: faulty.OpPut | faulty.OpPutIfAbsent | faulty.OpGet | faulty.OpList | faulty.OpStat})
	for i := range 12 {
		r.step(0)
		if i == 0 {
			want("first failed checkpoint", "TidemarkStorageErrors")
		}
		if i == 2 {
			want("three failed checkpoints", "TidemarkCheckpointFailuresRising", "TidemarkStorageErrors")
		}
	}
	if st, ok := r.drill.RunOnce(r.ctx); !ok || st.Result == drill.ResultPassed {
		t.Fatalf("drill on failing storage: %+v %v", st, ok)
	}
	r.step(0)
	want("six minutes of failed checkpoints", "TidemarkCheckpointFailuresRising", "TidemarkCheckpointStalled",
		"TidemarkRecoveryDrillFailed", "TidemarkStorageErrors")
	in.Disarm()
}
