package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/httpapi"
	"github.com/tidemark/tidemark/internal/job"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestHealthAndReadiness(t *testing.T) {
	s, err := httpapi.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, zap.NewNop()) }()
	base := "http://" + s.Addr()
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before ready = %d", code)
	}
	s.SetReady(true)
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz after ready = %d %q", code, body)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// fakeJob is a job whose status the test sets.
type fakeJob struct{ st atomic.Pointer[job.Status] }

func (f *fakeJob) Status() job.Status { return *f.st.Load() }

// TestReadinessFollowsJob: once connected to a job, /readyz answers what
// its status says, with the reason in the body, and GET /api/v1/job
// returns the status.
func TestReadinessFollowsJob(t *testing.T) {
	s, err := httpapi.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, zap.NewNop()) }()
	base := "http://" + s.Addr()
	if code, _ := get(t, base+"/api/v1/job"); code != http.StatusServiceUnavailable {
		t.Errorf("/api/v1/job before a job = %d", code)
	}
	s.SetReady(true)
	j := &fakeJob{}
	j.st.Store(&job.Status{State: job.StateRestarting, Reason: "restarting in 4s (failure 3 in a row): broker down", Restarts: 3})
	s.SetJob(j)
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "broker down") {
		t.Errorf("/readyz while restarting = %d %q", code, body)
	}
	code, body := get(t, base+"/api/v1/job")
	var st job.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != http.StatusOK || st.State != job.StateRestarting || st.Restarts != 3 {
		t.Errorf("/api/v1/job = %d %q (%v)", code, body, err)
	}
	j.st.Store(&job.Status{State: job.StateRunning, Ready: true})
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz when ready = %d %q", code, body)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
