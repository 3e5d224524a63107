package integration

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// newestCheckpoint returns the id of the job's newest checkpoint with
// metadata in the S3 store.
func (j *chaosJob) newestCheckpoint(ctx context.Context) int64 {
	j.t.Helper()
	cl := j.s3.Client()
	prefix := j.prefix + "/" + j.name + "/chk-"
	var newest int64
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(j.s3.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			j.t.Fatalf("list checkpoints: %v", err)
		}
		for _, o := range page.Contents {
			rest := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			num, file, ok := strings.Cut(rest, "/")
			if !ok || file != "_metadata" {
				continue
			}
			if id, err := strconv.ParseInt(num, 10, 64); err == nil {
				newest = max(newest, id)
			}
		}
	}
	if newest == 0 {
		j.t.Fatal("no complete checkpoint in storage")
	}
	return newest
}

// waitExit waits for p to exit on its own.
func (j *chaosJob) waitExit(ctx context.Context, p *process) error {
	j.t.Helper()
	select {
	case err := <-p.exited:
		return err
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		j.t.Fatalf("processor did not exit:\n%s", p.tail(40))
		return nil
	}
}

// waitLog waits until p's log holds s.
func (j *chaosJob) waitLog(ctx context.Context, p *process, s string) {
	j.t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		data, _ := os.ReadFile(p.logPath)
		if strings.Contains(string(data), s) {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			j.t.Fatalf("the log never said %q:\n%s", s, p.tail(40))
		}
	}
}

// variant writes a copy of the job's configuration with old replaced by
// new and returns its path.
func (j *chaosJob) variant(name string, replace ...string) string {
	j.t.Helper()
	data, err := os.ReadFile(j.config)
	if err != nil {
		j.t.Fatal(err)
	}
	cfg := string(data)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(cfg, replace[i]) {
			j.t.Fatalf("configuration has no %q", replace[i])
		}
		cfg = strings.Replace(cfg, replace[i], replace[i+1], 1)
	}
	path := filepath.Join(j.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		j.t.Fatal(err)
	}
	return path
}

// TestNamedRestoreCommitsPending (issue 7.3): the processor dies between
// writing checkpoint N's metadata and committing its transactions; a
// restart with `--from N` commits them (they stayed open, holding every
// read_committed reader at the last stable offset, and were then aborted:
// their records precede N's offsets and were never read again). A second
// start with the same --from does not restore N again.
func TestNamedRestoreCommitsPending(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	j := newChaosJob(t)
	prod := j.produce(ctx, 32, 1000)
	p := j.startArgs(j.config, []string{"TIDEMARK_CRASHPOINT=checkpoint.after-metadata:5"})
	j.waitExit(ctx, p)
	if !strings.Contains(p.tail(5), "crash point reached") {
		t.Fatalf("the processor did not die at the crash point:\n%s", p.tail(20))
	}
	n := j.newestCheckpoint(ctx)
	t.Logf("died after writing checkpoint %d's metadata; restarting with --from %d", n, n)
	p2 := j.startArgs(j.config, nil, "--from", strconv.FormatInt(n, 10))
	j.waitRunning(ctx, p2)
	want := prod.stop()
	// Well within the transaction timeout (2m): a transaction left open
	// would hold the reader at the last stable offset past this.
	vctx, vcancel := context.WithTimeout(ctx, time.Minute)
	j.verify(vctx, want)
	vcancel()
	j.stop(ctx, p2)

	p3 := j.startArgs(j.config, nil, "--from", strconv.FormatInt(n, 10))
	j.waitRunning(ctx, p3)
	j.waitLog(ctx, p3, "--from ignored")
	j.stop(ctx, p3)
	vctx, vcancel = context.WithTimeout(ctx, time.Minute)
	defer vcancel()
	j.verify(vctx, want)
}

// TestOneInstanceAtATime (issue 7.4): a second instance of a running job
// (a mistaken second container, a rolling update) waits for the first to
// go — killed, or stopped cleanly — instead of running beside it, and
// every count is written exactly once.
func TestOneInstanceAtATime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	j := newChaosJob(t)
	a := j.variant("a", "checkpoint:\n", "checkpoint:\n  lease_timeout: 2s\n")
	b := j.variant("b", "checkpoint:\n", "checkpoint:\n  lease_timeout: 2s\n", "state:\n  dir: "+filepath.Join(j.dir, "state"), "state:\n  dir: "+filepath.Join(j.dir, "state-b"))
	prod := j.produce(ctx, 32, 1000)
	first := j.startArgs(a, nil)
	j.waitRunning(ctx, first)
	second := j.startArgs(b, nil)
	j.waitLog(ctx, second, "the job is held by another instance")
	select {
	case <-second.running:
		t.Fatalf("the second instance runs beside the first:\n%s", second.tail(20))
	default:
	}
	// The first dies; the second takes over once the lease times out.
	_ = first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.exited
	j.waitRunning(ctx, second)
	// A rolling update: a new instance waits, the old one stops cleanly
	// and releases the job, the new one takes over at once.
	third := j.startArgs(a, nil)
	j.waitLog(ctx, third, "the job is held by another instance")
	j.stop(ctx, second)
	j.waitRunning(ctx, third)
	want := prod.stop()
	j.verify(ctx, want)
	j.stop(ctx, third)
}
