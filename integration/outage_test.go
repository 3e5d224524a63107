package integration

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/integration/testenv"
)

// withHTTP makes the chaos job's processor serve HTTP on a free address,
// and returns it.
func withHTTP(t *testing.T, j *chaosJob) string {
	t.Helper()
	addr := freeAddr(t)
	data, err := os.ReadFile(j.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(data), "http:\n  listen: \"\"\n", "http:\n  listen: \""+addr+"\"\n", 1)
	if cfg == string(data) {
		t.Fatal("the chaos job's configuration has no http section to replace")
	}
	if err := os.WriteFile(j.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return addr
}

// readyz is /readyz's status code (0 if the server does not answer) and
// body.
func readyz(addr string) (int, string) { return httpGet("http://" + addr + "/readyz") }

// TestS3OutageRiddenOut: with S3 down for longer than the three quick
// restarts that used to end the process, the processor keeps retrying,
// with /readyz 503 and the reason in the API; once S3 is back it runs on,
// and the output is exactly once.
func TestS3OutageRiddenOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	j := newChaosJob(t)
	addr := withHTTP(t, j)
	prod := j.produce(ctx, 32, 500)
	p := j.start()
	j.waitRunning(ctx, p)
	waitFor(ctx, t, p, "ready", func() bool { code, _ := readyz(addr); return code == http.StatusOK })

	testenv.KillS3(t)
	down := time.Now()
	var st jobStatus
	waitFor(ctx, t, p, "4 restarts with S3 down", func() bool {
		var ok bool
		st, ok = status(t, addr)
		return ok && st.Restarts >= 4
	})
	code, body := readyz(addr)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready") || st.Ready ||
		st.LastFailure == nil || st.LastFailure.Class != "transient" {
		t.Fatalf("with S3 down: /readyz %d %q, status %+v", code, body, st)
	}
	t.Logf("S3 down %v: %d restarts, %d in a row; /readyz %d %q", time.Since(down).Round(time.Second), st.Restarts, st.FailuresInARow, code, strings.TrimSpace(body))
	waitFor(ctx, t, p, "15 s of outage", func() bool { return time.Since(down) > 15*time.Second })
	testenv.RestartS3(t)
	t.Logf("S3 back after %v", time.Since(down).Round(time.Second))
	waitFor(ctx, t, p, "ready again", func() bool { code, _ := readyz(addr); return code == http.StatusOK })
	t.Logf("ready again %v after S3 went down", time.Since(down).Round(time.Second))
	// Input flows on until a checkpoint after the outage advanced it.
	waitFor(ctx, t, p, "progress after the outage", func() bool { st, ok := status(t, addr); return ok && st.Progress })
	want := prod.stop()
	j.verify(ctx, want)
	j.stop(ctx, p)
	t.Logf("%d in-process restarts, %d checkpoints failed", j.logCount(`"msg":"restarting the job`), j.logCount(`"msg":"checkpoint failed"`))
}

// TestBrokerDownAtStart: a processor started while the broker is down does
// not exit: it retries (not ready, the reason in the API) and runs once
// the broker is up, exactly once.
func TestBrokerDownAtStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	j := newChaosJob(t) // creates the topics while the broker is up
	addr := withHTTP(t, j)
	testenv.KillKafka(t)
	down := time.Now()
	p := j.start()
	var st jobStatus
	waitFor(ctx, t, p, "a failed attempt with the broker down", func() bool {
		var ok bool
		st, ok = status(t, addr)
		return ok && st.Restarts >= 1
	})
	if code, body := readyz(addr); code != http.StatusServiceUnavailable || st.LastFailure == nil || st.LastFailure.Class != "transient" {
		t.Fatalf("with the broker down: /readyz %d %q, status %+v", code, body, st)
	}
	t.Logf("broker down %v: %d restarts; last failure: %s", time.Since(down).Round(time.Second), st.Restarts, st.LastFailure.Error)
	testenv.RestartKafka(t)
	t.Logf("broker back after %v", time.Since(down).Round(time.Second))
	j.waitRunning(ctx, p)
	prod := j.produce(ctx, 32, 500)
	waitFor(ctx, t, p, "ready", func() bool { code, _ := readyz(addr); return code == http.StatusOK })
	waitFor(ctx, t, p, "progress", func() bool { st, ok := status(t, addr); return ok && st.Progress })
	want := prod.stop()
	j.verify(ctx, want)
	j.stop(ctx, p)
	t.Logf("%d in-process restarts before the broker came back", j.logCount(`"msg":"restarting the job`))
}

// TestS3DownAtStart (issue 8.8): a processor started while its checkpoint
// storage is down does not exit: it retries taking the job's lease with
// the restart strategy's delays, then restores and runs once S3 is back.
func TestS3DownAtStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	j := newChaosJob(t)
	testenv.KillS3(t)
	prod := j.produce(ctx, 32, 500)
	p := j.start()
	j.waitLog(ctx, p, "cannot take the job's lease in its checkpoint storage: retrying")
	select {
	case err := <-p.exited:
		t.Fatalf("the processor exited with S3 down (%v):\n%s", err, p.tail(20))
	default:
	}
	testenv.RestartS3(t)
	j.waitRunning(ctx, p)
	j.waitLog(ctx, p, `"msg":"checkpoint complete"`)
	want := prod.stop()
	j.verify(ctx, want)
	j.stop(ctx, p)
}
