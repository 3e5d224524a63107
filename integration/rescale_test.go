package integration

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRescaleExactlyOnce: the real processor on the real broker and S3
// server, counting per key with exactly-once output while input arrives,
// runs with job.parallelism 2 (stopped with SIGTERM), is started with 4
// (rescaled from the checkpoint; killed with SIGKILL mid-run, so recovery
// must settle the transactions of the 4 tasks' ids), then with 1: every
// count 1..n of every key is committed exactly once, and the log says
// each restore rescaled.
func TestRescaleExactlyOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	j := newChaosJob(t)
	setParallelism := func(p string) {
		t.Helper()
		data, err := os.ReadFile(j.config)
		if err != nil {
			t.Fatal(err)
		}
		cfg := string(data)
		i := strings.Index(cfg, "  parallelism: ")
		end := i + strings.Index(cfg[i:], "\n")
		if err := os.WriteFile(j.config, []byte(cfg[:i]+"  parallelism: "+p+cfg[end:]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	prod := j.produce(ctx, 64, 1000)
	p := j.start()
	j.waitRunning(ctx, p)
	waitFor(ctx, t, p, "2 checkpoints at parallelism 2", checkpoints(p, 2))
	j.stop(ctx, p)

	setParallelism("4")
	p = j.start()
	j.waitRunning(ctx, p)
	waitFor(ctx, t, p, "2 checkpoints at parallelism 4", checkpoints(p, 2))
	j.kill(p) // mid-run: transactions of the 4 tasks are open

	setParallelism("1")
	want := prod.stop()
	if t.Failed() {
		return
	}
	p = j.start()
	j.waitRunning(ctx, p)
	j.verify(ctx, want)
	j.stop(ctx, p)
	rescales := j.logCount(`"msg":"restoring with other task counts than the checkpoint's: rescaling"`)
	t.Logf("rescale: %d runs, %d restores rescaled, %d task states rescaled, %d checkpoints failed", j.runs, rescales,
		j.logCount(`"msg":"task state rescaled"`), j.logCount(`"msg":"checkpoint failed"`))
	if rescales < 2 {
		t.Errorf("%d restores rescaled, want at least 2 (2 -> 4, 4 -> 1)", rescales)
	}
	for _, s := range []string{`"stages":"keyed 2->4"`, `"stages":"keyed 4->1"`} {
		if j.logCount(s) == 0 {
			t.Errorf("no restore logged %s", s)
		}
	}
}

// checkpoints is a condition: p logged at least n completed checkpoints.
func checkpoints(p *process, n int) func() bool {
	return func() bool {
		data, _ := os.ReadFile(p.logPath)
		return strings.Count(string(data), `"msg":"checkpoint complete"`) >= n
	}
}
