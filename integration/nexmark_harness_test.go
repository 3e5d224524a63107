package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/integration/testenv"
	"github.com/tidemark/tidemark/nexmark"
	"github.com/tidemark/tidemark/nexmark/harness"
	"github.com/tidemark/tidemark/nexmark/reference"
)

// The Nexmark integration tests (this file's harness; the queries are in
// nexmark_test.go) run the processor binary on configs/nexmark/qN.yaml over
// generated events on the real broker and compare its committed output with
// nexmark/reference computed here from the same events.
//
// The input: nexmarkEvents events of seed 9 at nexmarkRate events per
// second of event time, so that they span 60 s (six tumbling windows,
// thirty hopping ones, many sessions) and, starting 30 s before midnight,
// two days for q15; nexmarkPartitions partitions, as the generator writes
// them (event n at partition n mod P).
const (
	nexmarkEvents     = 30_000
	nexmarkRate       = 500
	nexmarkPartitions = 4
)

func nexmarkGenConfig() nexmark.Config {
	cfg := nexmark.DefaultConfig()
	cfg.Seed = 9
	cfg.Rate = nexmarkRate
	cfg.BaseTime = time.Date(2025, 1, 1, 23, 59, 30, 0, time.UTC).UnixMilli()
	return cfg
}

// nexmarkData is the generated input of a test and the reference's view
// of it.
type nexmarkData struct {
	gen    *nexmark.Generator
	events []nexmark.Event
	input  reference.Input
}

func newNexmarkData(t *testing.T) *nexmarkData {
	t.Helper()
	gen, err := nexmark.New(nexmarkGenConfig())
	if err != nil {
		t.Fatal(err)
	}
	d := &nexmarkData{gen: gen, events: gen.Events(0, nexmarkEvents)}
	d.input = reference.Input{Events: d.events, Partitions: nexmarkPartitions}
	// The reference is exact for any interleaving of the partitions and
	// any watermark timing only when no event is behind its partition's
	// watermark (docs/nexmark.md).
	if late := reference.BehindWatermark(d.input); len(late) > 0 {
		t.Fatalf("%d generated events are behind the watermark (first: event %d): the reference would depend on the interleaving", len(late), late[0])
	}
	return d
}

// reference computes query q over the data.
func (d *nexmarkData) reference(t *testing.T, q string) *reference.Result {
	t.Helper()
	r, err := reference.Query(q, d.input)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rows)+len(r.Final) == 0 {
		t.Fatalf("%s: the reference has no output for the test's input: a run could pass with no output", q)
	}
	return r
}

// write produces events [from, to) into topic (created by the caller with
// nexmarkPartitions partitions).
func (d *nexmarkData) write(ctx context.Context, t *testing.T, k testenv.KafkaEnv, topic string, from, to int64) {
	t.Helper()
	cl := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	// A generator is not safe for concurrent use, and parallel subtests
	// write at once: each write has its own (the events are the same).
	if err := harness.WriteEvents(ctx, cl, d.gen.Clone(), topic, nexmarkPartitions, from, to); err != nil {
		t.Fatal(err)
	}
}

// repoRoot is the repository's root directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// waitCommitted waits until the consumer group holds, for every
// partition of topic, its end offset: a checkpoint holding every record
// written so far has completed (the source commits a completed
// checkpoint's positions to the group).
func waitCommitted(ctx context.Context, t *testing.T, k testenv.KafkaEnv, p *process, group, topic string) {
	t.Helper()
	adm := k.Admin(t)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, p, "a checkpoint holding the first half of the input (positions committed to group "+group+")", func() bool {
		got, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = got.Error()
		}
		if err != nil {
			return false
		}
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := got.Lookup(topic, o.Partition)
			done = done && ok && c.At >= o.Offset
		})
		return done
	})
}

// TestNexmarkLegacyRestore runs the restore half of the harness on what
// runs today (the legacy passthrough pipeline): half of the input
// written and read until a completed checkpoint holds it, the rest
// written, SIGKILL, a second run in a fresh state directory restoring
// the checkpoint from S3; every event is committed exactly once.
func TestNexmarkLegacyRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d := newNexmarkData(t)
	k, s := testenv.Kafka(t), testenv.S3(t)
	in := k.CreateTopic(t, nexmarkPartitions, nil)
	out := k.CreateTopic(t, nexmarkPartitions, nil)
	dlq := k.CreateTopic(t, 1, nil)
	const half = nexmarkEvents / 2
	d.write(ctx, t, k, in, 0, half)

	dir := t.TempDir()
	group := testenv.UniqueName(t, "group")
	cfg := jobYAML(t, k, s, dir, in, out, dlq, "[{type: passthrough}]", "", "")
	cfg = strings.Replace(cfg, "source:\n", "source:\n  group: "+group+"\n", 1)
	// The second run, in another state directory, waits this long for
	// the SIGKILLed run's lease.
	cfg = strings.Replace(cfg, "checkpoint:\n", "checkpoint:\n  lease_timeout: 3s\n", 1)
	j := newJob(t, dir, in, out, cfg)
	first := j.start()
	waitCommitted(ctx, t, k, first, group, in)
	d.write(ctx, t, k, in, half, nexmarkEvents)
	j.kill(first)

	fresh := strings.Replace(cfg, filepath.Join(dir, "state"), filepath.Join(dir, "state-2"), 1)
	if fresh == cfg {
		t.Fatal("the configuration names no state dir to replace")
	}
	second := j.startArgs(writeFile(t, filepath.Join(dir, "fresh.yaml"), fresh), nil)
	j.waitRunning(ctx, second)
	readAll(ctx, t, k, out, nexmarkEvents)
	j.stop(ctx, second)
	if !strings.Contains(second.tail(1<<20), `"msg":"restoring from checkpoint"`) {
		t.Fatalf("the second run did not restore a checkpoint:\n%s", second.tail(40))
	}
	recs, err := harness.ReadTopic(ctx, k.Brokers, out)
	if err != nil {
		t.Fatal(err)
	}
	checkEventsOnce(t, d, recs)
}

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkEventsOnce requires recs to hold every generated event exactly
// once, and returns the bids as q0 rows (made here, in the test).
func checkEventsOnce(t *testing.T, d *nexmarkData, recs []*kgo.Record) []reference.Record {
	t.Helper()
	if len(recs) != nexmarkEvents {
		t.Fatalf("%d records committed, want %d", len(recs), nexmarkEvents)
	}
	want := map[uint64]int{}
	for i := range d.events {
		want[xxhash.Sum64(nexmark.AppendJSON(nil, &d.events[i]))]++
	}
	var bids []reference.Record
	for _, r := range recs {
		h := xxhash.Sum64(r.Value)
		if want[h] == 0 {
			t.Fatalf("partition %d offset %d: not a generated event, or a duplicate: %.200s", r.Partition, r.Offset, r.Value)
		}
		want[h]--
		ev, err := nexmark.ParseJSON(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if b := ev.Bid; ev.Kind == nexmark.KindBid {
			row := fmt.Sprintf(`{"auction":%d,"bidder":%d,"price":%d,"dateTime":%q,"extra":%s}`,
				b.Auction, b.Bidder, b.Price, nexmark.FormatTime(b.DateTime), nexmark.AppendString(nil, b.Extra))
			bids = append(bids, reference.Record{Value: []byte(row)})
		}
	}
	return bids
}

// TestNexmarkLegacyPassthrough runs the harness on what runs today: the
// generated events written to the real broker, piped by the processor with
// the legacy passthrough pipeline, read back committed to the end, every
// event exactly once, and the bids turned into q0 rows (in the test)
// equal to the reference's q0. The queries themselves run in
// nexmark_test.go.
func TestNexmarkLegacyPassthrough(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d := newNexmarkData(t)
	k, s := testenv.Kafka(t), testenv.S3(t)
	in := k.CreateTopic(t, nexmarkPartitions, nil)
	out := k.CreateTopic(t, nexmarkPartitions, nil)
	dlq := k.CreateTopic(t, 1, nil)
	begin := time.Now()
	d.write(ctx, t, k, in, 0, nexmarkEvents)
	t.Logf("wrote %d events in %v", nexmarkEvents, time.Since(begin).Round(time.Millisecond))

	dir := t.TempDir()
	j := newJob(t, dir, in, out, jobYAML(t, k, s, dir, in, out, dlq, "[{type: passthrough}]", "", ""))
	p := j.start()
	j.waitRunning(ctx, p)
	begin = time.Now()
	readAll(ctx, t, k, out, nexmarkEvents)
	j.stop(ctx, p)
	t.Logf("piped and stopped in %v", time.Since(begin).Round(time.Millisecond))

	recs, err := harness.ReadTopic(ctx, k.Brokers, out)
	if err != nil {
		t.Fatal(err)
	}
	bids := checkEventsOnce(t, d, recs)
	q0 := d.reference(t, "q0")
	if err := q0.Check(bids); err != nil {
		t.Fatal(err)
	}
	// And the check fails without one of them.
	if err := q0.Check(bids[1:]); err == nil {
		t.Fatal("Check accepted the output without one bid")
	}
	dead, err := harness.ReadTopic(ctx, k.Brokers, dlq)
	if err != nil || len(dead) != 0 {
		t.Fatalf("dead letters: %d, %v", len(dead), err)
	}
}

// runNexmarkBench runs cmd/nexmarkbench briefly on the test broker with
// -queries queries, so that `make bench-nexmark` cannot rot, and checks
// its tables: the raw pipe's row, one row per query, allocation rows.
func runNexmarkBench(t *testing.T, queries string, want []string) {
	t.Helper()
	k := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/nexmarkbench", "-brokers", strings.Join(k.Brokers, ","),
		"-events", "20000", "-rate", fmt.Sprint(nexmarkRate), "-queries", queries, "-markdown",
		"-allocs-pkgs", "./format/json", "-allocs-bench", "Decode", "-benchtime", "100x", "-dir", t.TempDir())
	cmd.Dir = repoRoot()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("nexmarkbench: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("nexmarkbench:\n%s", out)
	for _, w := range append([]string{"| raw | franz-go consume→produce |", "| format/json | Decode/"}, want...) {
		if !strings.Contains(out, w) {
			t.Errorf("the output lacks %q", w)
		}
	}
}

// TestNexmarkBenchShort: the benchmark's raw pipe and allocation table
// (the queries' rows run in nexmark_test.go's TestNexmarkBench).
func TestNexmarkBenchShort(t *testing.T) {
	runNexmarkBench(t, "none", nil)
}
