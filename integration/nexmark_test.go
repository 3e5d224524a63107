// The Nexmark queries against the real broker, through the processor
// binary:
//
//	go test -count=1 -v -run Nexmark ./integration/

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/integration/testenv"
	"github.com/tidemark/tidemark/nexmark/harness"
	"github.com/tidemark/tidemark/nexmark/reference"
)

// nexmarkRunTimeout bounds one processor run of one query.
const nexmarkRunTimeout = 3 * time.Minute

// nexmarkJob is one query's job under test: its output topics, its
// checkpoint prefix in the S3 bucket, and the processor runs on it (the
// chaos tests' process handling).
type nexmarkJob struct {
	*chaosJob
	query   string
	input   string
	dlq     string
	group   string
	storage string
}

// newNexmarkJob prepares query q's job reading the topic input: fresh
// output and dead-letter topics, a job name and consumer group of its own,
// checkpoints under a fresh prefix of the test bucket.
func newNexmarkJob(t *testing.T, q, input string) *nexmarkJob {
	t.Helper()
	k, s := testenv.Kafka(t), testenv.S3(t)
	j := &nexmarkJob{
		chaosJob: &chaosJob{t: t, kafka: k, s3: s, bin: processorBinary(t), dir: t.TempDir()},
		query:    q,
		input:    input,
	}
	j.out = k.CreateTopic(t, nexmarkPartitions, nil)
	j.dlq = k.CreateTopic(t, 1, nil)
	j.name = testenv.UniqueName(t, "nexmark")
	j.group = j.name
	j.prefix = strings.TrimSuffix(s.Prefix(t), "/")
	j.storage = fmt.Sprintf("s3://%s/%s", s.Bucket, j.prefix)
	return j
}

// writeConfig writes the query's configuration for a run with state in
// stateDir (relative to the job's directory), bounded (stop_at: end) or
// not, and returns its path.
func (j *nexmarkJob) writeConfig(stateDir string, bounded bool) string {
	j.t.Helper()
	src, err := harness.ReadConfig(repoRoot(), j.query)
	if err != nil {
		j.t.Fatal(err)
	}
	off := ""
	cfg, err := harness.Rewrite(src, harness.Overrides{
		JobName: j.name, Brokers: j.kafka.Brokers, Topic: j.input, Group: j.group, StopAtEnd: bounded,
		Output: j.out, DeadLetter: j.dlq, TransactionTimeout: 10 * time.Minute, // above 2 × checkpoint.timeout (3m) + 10%
		Checkpoint: j.storage, Interval: 300 * time.Millisecond, StateDir: filepath.Join(j.dir, stateDir),
		// A restored run in a fresh state directory waits this long for
		// the SIGKILLed run's lease.
		LeaseTimeout: 3 * time.Second,
		S3:           &harness.S3{Endpoint: j.s3.Endpoint, Region: j.s3.Region}, HTTPListen: &off,
	})
	if err != nil {
		j.t.Fatal(err)
	}
	path := filepath.Join(j.dir, fmt.Sprintf("%s-%s.yaml", j.query, stateDir))
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		j.t.Fatal(err)
	}
	return path
}

// waitExit waits for a bounded run to end and requires exit status 0.
func (j *nexmarkJob) waitExit(ctx context.Context, p *process) {
	j.t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			j.t.Fatalf("%s: processor exited with %v:\n%s", j.query, err, p.tail(40))
		}
	case <-ctx.Done():
		j.kill(p)
		j.t.Fatalf("%s: processor still running after %v (stop_at: end):\n%s", j.query, nexmarkRunTimeout, p.tail(40))
	}
}

// checkOutput reads the committed output to its end and compares it with
// the reference; the dead-letter topic must be empty.
func (j *nexmarkJob) checkOutput(ctx context.Context, want *reference.Result) {
	j.t.Helper()
	checkNexmarkOutput(ctx, j.t, j.kafka, j.out, j.dlq, want)
}

func checkNexmarkOutput(ctx context.Context, t *testing.T, k testenv.KafkaEnv, out, dlq string, want *reference.Result) {
	t.Helper()
	dead, err := harness.ReadTopic(ctx, k.Brokers, dlq)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range dead[:min(len(dead), 5)] {
		t.Errorf("dead letter %d of %d: operator %q, error %q: %.300s", i+1, len(dead), header(r, "tidemark.operator"), header(r, "tidemark.error"), r.Value)
	}
	recs, err := harness.ReadTopic(ctx, k.Brokers, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := want.Check(harness.ToReference(recs)); err != nil {
		t.Fatalf("%d records committed: %v", len(recs), err)
	}
	t.Logf("%s: %d records committed, equal to the reference (%d rows, %d keys)", want.Query, len(recs), len(want.Rows), len(want.Final))
}

// TestNexmarkValidate: `processor validate` accepts every configs/nexmark
// query as it is in the repository.
func TestNexmarkValidate(t *testing.T) {
	bin := processorBinary(t)
	for _, q := range reference.Names {
		t.Run(q, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "validate", "--config", harness.ConfigPath(repoRoot(), q)).CombinedOutput()
			if err != nil {
				t.Fatalf("processor validate: %v\n%s", err, out)
			}
		})
	}
}

// TestNexmarkQueries runs every query once over the whole input (stop_at:
// end) and compares the committed output with the reference: the multiset
// of rows for append queries, the final row per key for updating ones
// (ties in q18 and q19 as docs/nexmark.md says).
func TestNexmarkQueries(t *testing.T) {
	d := newNexmarkData(t)
	k := testenv.Kafka(t)
	in := k.CreateTopic(t, nexmarkPartitions, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	d.write(ctx, t, k, in, 0, nexmarkEvents)
	cancel()
	for _, q := range reference.Names {
		t.Run(q, func(t *testing.T) {
			t.Parallel() // two at a time (-parallel defaults to GOMAXPROCS): the runs mostly wait
			want := d.reference(t, q)
			ctx, cancel := context.WithTimeout(context.Background(), nexmarkRunTimeout)
			defer cancel()
			j := newNexmarkJob(t, q, in)
			begin := time.Now()
			p := j.startArgs(j.writeConfig("state", true), nil)
			j.waitExit(ctx, p)
			t.Logf("%s: %d events in %v (start-up included)", q, nexmarkEvents, time.Since(begin).Round(time.Millisecond))
			j.checkOutput(ctx, want)
		})
	}
}

// TestNexmarkRestore is every query's restore equivalence: the first half
// of the input is written and read by an unbounded run until a completed
// checkpoint holds all of it (its positions committed to the job's
// consumer group); then the second half is written while that run reads
// it, and the run is SIGKILLed at once, mid-way; a second run in a fresh
// state directory restores the newest checkpoint from S3 and reads to the
// end (stop_at: end). The committed output must equal the reference's,
// that is one uninterrupted run's.
func TestNexmarkRestore(t *testing.T) {
	d := newNexmarkData(t)
	const half = nexmarkEvents / 2
	for _, q := range reference.Names {
		t.Run(q, func(t *testing.T) {
			t.Parallel()
			want := d.reference(t, q)
			ctx, cancel := context.WithTimeout(context.Background(), 2*nexmarkRunTimeout)
			defer cancel()
			k := testenv.Kafka(t)
			in := k.CreateTopic(t, nexmarkPartitions, nil)
			d.write(ctx, t, k, in, 0, half)
			j := newNexmarkJob(t, q, in)

			first := j.startArgs(j.writeConfig("state-1", false), nil)
			waitCommitted(ctx, t, k, first, j.group, in)
			d.write(ctx, t, k, in, half, nexmarkEvents)
			j.kill(first)

			second := j.startArgs(j.writeConfig("state-2", true), nil)
			j.waitExit(ctx, second)
			if log := second.tail(1 << 20); !strings.Contains(log, `"msg":"restoring from checkpoint"`) {
				t.Fatalf("the second run did not restore a checkpoint:\n%s", second.tail(40))
			}
			j.checkOutput(ctx, want)
		})
	}
}

// TestNexmarkBench runs `make bench-nexmark`'s program briefly over every
// query (each output checked against the reference by the program).
func TestNexmarkBench(t *testing.T) {
	var want []string
	for _, q := range reference.Names {
		want = append(want, "| "+q+" | configs/nexmark/"+q+".yaml |")
	}
	runNexmarkBench(t, strings.Join(reference.Names, ","), want)
}
