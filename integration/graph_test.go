package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/integration/testenv"
)

// graphJob is a job of the graph form under test: a JSON source, a
// filter, a map, a key_by and a dedup into a sink choosing its topic per
// record, and a second sink writing the map's output.
type graphJob struct {
	*chaosJob
	even, odd, all, dlq string
	group               string
}

func newGraphJob(t *testing.T) *graphJob {
	t.Helper()
	k, s := testenv.Kafka(t), testenv.S3(t)
	j := &graphJob{chaosJob: &chaosJob{t: t, kafka: k, s3: s, bin: processorBinary(t), dir: t.TempDir()}}
	j.in = k.CreateTopic(t, 4, nil)
	j.even, j.odd, j.all = k.CreateTopic(t, 3, nil), k.CreateTopic(t, 3, nil), k.CreateTopic(t, 3, nil)
	j.dlq = k.CreateTopic(t, 1, nil)
	j.name = testenv.UniqueName(t, "graph")
	j.group = j.name
	j.prefix = strings.TrimSuffix(s.Prefix(t), "/")
	return j
}

// writeConfig writes the job's configuration with state in stateDir,
// bounded (stop_at: end) or not, and returns its path.
func (j *graphJob) writeConfig(stateDir string, bounded bool) string {
	j.t.Helper()
	stopAt := ""
	if bounded {
		stopAt = "\n    stop_at: end"
	}
	cfg := fmt.Sprintf(`job: {name: %s, parallelism: 2}
kafka: {brokers: [%s]}
sources:
  - name: events
    topics: [%s]
    format: json
    group: %s
    event_time: {field: ts, format: epoch_millis}
    watermark: {max_out_of_orderness: 1s}%s
operators:
  - {name: kept, type: filter, from: events, where: 'value.kind != "skip"'}
  - name: shape
    type: map
    from: kept
    fields: {id: value.id, user: value.user, n: value.n}
  - {name: by-id, type: key_by, from: shape, key: value.id}
  - {name: firsts, type: dedup, from: by-id, key: key}
sinks:
  - name: routed
    from: firsts
    topic_expr: 'value.n %% 2 == 0 ? "%s" : "%s"'
  - {name: everything, from: shape, topic: %s}
dead_letter: {topic: %s}
output: {delivery: exactly_once, transaction_timeout: 2m}
checkpoint:
  storage: s3://%s/%s
  interval: 300ms
  timeout: 30s
  retained: 2
  lease_timeout: 3s
state: {dir: %s}
s3: {endpoint: %s, region: %s, path_style: true}
http: {listen: ""}
log: {level: info, format: json}
`, j.name, strings.Join(j.kafka.Brokers, ", "), j.in, j.group, stopAt, j.even, j.odd, j.all, j.dlq,
		j.s3.Bucket, j.prefix, filepath.Join(j.dir, stateDir), j.s3.Endpoint, j.s3.Region)
	path := filepath.Join(j.dir, stateDir+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		j.t.Fatal(err)
	}
	return path
}

// graphEvent is input record i: id i/2 (so each id comes twice, the
// two records under the same Kafka key, in order), every tenth record
// of kind skip (filtered out), one in 97 not JSON (a dead letter).
func graphEvent(i int) (key, value []byte) {
	key = []byte(strconv.Itoa(i / 2))
	if i%97 == 50 {
		return key, []byte(`{"id": ` + strconv.Itoa(i/2) + `, broken`)
	}
	kind := "click"
	if i%10 == 3 {
		kind = "skip"
	}
	return key, fmt.Appendf(nil, `{"ts": %d, "kind": %q, "user": "u%d", "id": %d, "n": %d}`,
		int64(1_700_000_000_000)+int64(i)*10, kind, i%13, i/2, i)
}

// graphExpected is what the job commits for records [0, n): per topic,
// each value with its count.
func graphExpected(n int) (even, odd, all map[string]int, dead int) {
	even, odd, all = map[string]int{}, map[string]int{}, map[string]int{}
	seen := map[int]bool{}
	for i := range n {
		_, v := graphEvent(i)
		var e struct {
			Kind string `json:"kind"`
			User string `json:"user"`
			ID   int    `json:"id"`
			N    int    `json:"n"`
		}
		if json.Unmarshal(v, &e) != nil {
			dead++
			continue
		}
		if e.Kind == "skip" {
			continue
		}
		row := fmt.Sprintf(`{"id":%d,"user":%q,"n":%d}`, e.ID, e.User, e.N)
		all[row]++
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		if e.N%2 == 0 {
			even[row]++
		} else {
			odd[row]++
		}
	}
	return even, odd, all, dead
}

func (j *graphJob) write(ctx context.Context, from, to int) {
	j.t.Helper()
	cl := j.kafka.Client(j.t)
	recs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		k, v := graphEvent(i)
		recs = append(recs, &kgo.Record{Topic: j.in, Key: k, Value: v})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		j.t.Fatal(err)
	}
}

// committed reads topic read_committed to its end and counts its values.
func (j *graphJob) committed(ctx context.Context, topic string, want int) map[string]int {
	j.t.Helper()
	got := map[string]int{}
	for _, r := range readAll(ctx, j.t, j.kafka, topic, want) {
		got[string(r.Value)]++
	}
	return got
}

func diffCounts(t *testing.T, topic string, got, want map[string]int) {
	t.Helper()
	var bad []string
	for v, n := range want {
		if got[v] != n {
			bad = append(bad, fmt.Sprintf("%s: %d times, want %d", v, got[v], n))
		}
	}
	for v, n := range got {
		if _, ok := want[v]; !ok {
			bad = append(bad, fmt.Sprintf("%s: %d times, want none", v, n))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		t.Errorf("%s: %d values differ, e.g.:\n%s", topic, len(bad), strings.Join(bad[:min(len(bad), 10)], "\n"))
	}
}

func total(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// TestGraphExactlyOnce runs a multi-stage job graph through the
// processor binary: a JSON source (a value that is not JSON goes to the
// dead-letter topic), a filter, a map, a key_by and a dedup behind a key
// exchange, a sink choosing its topic per record and a second sink on the
// map's output. Half of the input is read by a first run until a
// checkpoint holds it; the rest is written while it runs and the run is
// SIGKILLed mid-way; a second run in a fresh state directory restores the
// newest checkpoint from S3 and reads to the end (stop_at: end), then
// exits 0. What every topic holds, read read_committed, is exactly the
// expected output: nothing lost, nothing doubled.
func TestGraphExactlyOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const n = 20000
	j := newGraphJob(t)
	j.write(ctx, 0, n/2)

	first := j.startArgs(j.writeConfig("state-1", false), nil)
	j.waitRunning(ctx, first)
	waitCommitted(ctx, t, j.kafka, first, j.group, j.in)
	j.write(ctx, n/2, n)
	// Kill once a checkpoint holds part of the second half: the run is
	// reading, writing and committing at that point.
	adm := j.kafka.Admin(t)
	waitFor(ctx, t, first, "a checkpoint past the first half", func() bool {
		got, err := adm.FetchOffsets(ctx, j.group)
		if err != nil || got.Error() != nil {
			return false
		}
		var sum int64
		got.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum > n/2
	})
	j.kill(first)

	second := j.startArgs(j.writeConfig("state-2", true), nil)
	select {
	case err := <-second.exited:
		if err != nil {
			t.Fatalf("second run exited with %v:\n%s", err, second.tail(40))
		}
	case <-ctx.Done():
		j.kill(second)
		t.Fatalf("second run still running (stop_at: end):\n%s", second.tail(40))
	}
	log := second.tail(1 << 20)
	if !strings.Contains(log, `"msg":"restoring from checkpoint"`) {
		t.Fatalf("the second run did not restore a checkpoint:\n%s", second.tail(40))
	}

	even, odd, all, dead := graphExpected(n)
	diffCounts(t, "even", j.committed(ctx, j.even, total(even)), even)
	diffCounts(t, "odd", j.committed(ctx, j.odd, total(odd)), odd)
	diffCounts(t, "all", j.committed(ctx, j.all, total(all)), all)
	dl := readAll(ctx, t, j.kafka, j.dlq, dead)
	if len(dl) != dead {
		t.Errorf("%d dead letters, want %d", len(dl), dead)
	}
	for _, r := range dl[:min(len(dl), 1)] {
		if header(r, "tidemark.operator") != "events" || !strings.Contains(header(r, "tidemark.error"), "not JSON") {
			t.Errorf("dead letter: operator %q, error %q", header(r, "tidemark.operator"), header(r, "tidemark.error"))
		}
	}
	t.Logf("committed: %d even, %d odd, %d all, %d dead letters", total(even), total(odd), total(all), len(dl))
}
