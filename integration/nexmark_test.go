//go:build nexmark

// The Nexmark queries against the real broker. Built only with the
// nexmark tag until the graph runtime lands (issue 9 phase C: the graph
// configuration, its operators and stop_at); then the tag goes:
//
//	go test -tags nexmark -count=1 -v -run Nexmark ./integration/

package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/integration/testenv"
	"github.com/tidemark/tidemark/nexmark/harness"
	"github.com/tidemark/tidemark/nexmark/reference"
)

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
