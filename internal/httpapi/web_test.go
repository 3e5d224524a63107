package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/internal/httpapi"
	"github.com/tidemark/tidemark/internal/job"
)

// serve starts a server on addr with opts and stops it at the end of the
// test.
func serve(t *testing.T, addr string, opts ...httpapi.Option) (*httpapi.Server, string) {
	t.Helper()
	s, err := httpapi.Listen(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, zap.NewNop()) }()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	_, port, _ := strings.Cut(s.Addr(), "]:")
	if port == "" {
		return s, "http://" + s.Addr()
	}
	return s, "http://127.0.0.1:" + port // [::]:port: reach it on loopback
}

// TestDashboard: the page and its assets are served from the binary, and
// reference nothing outside the server.
func TestDashboard(t *testing.T) {
	_, base := serve(t, "127.0.0.1:0")
	code, page := get(t, base+"/")
	if code != http.StatusOK || !strings.Contains(page, "<title>Tidemark</title>") || !strings.Contains(page, `src="assets/app.js"`) {
		t.Fatalf("GET / = %d %q", code, page)
	}
	for _, asset := range []struct{ path, ctype, has string }{
		{"/assets/app.js", "javascript", "api/v1/checkpoints"},
		{"/assets/style.css", "text/css", "--accent"},
	} {
		resp, err := http.Get(base + asset.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), asset.ctype) || !strings.Contains(string(body), asset.has) {
			t.Errorf("GET %s = %d %s", asset.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", asset.path, csp)
		}
		for _, ext := range []string{"https://", "http://cdn", "//cdn", "googleapis", "unpkg", "jsdelivr"} {
			if strings.Contains(string(body), ext) || strings.Contains(page, ext) {
				t.Errorf("%s references %q: the dashboard must need nothing beyond this server", asset.path, ext)
			}
		}
	}
	if code, _ := get(t, base+"/nothing-here"); code != http.StatusNotFound {
		t.Errorf("GET /nothing-here = %d", code)
	}
}

// fakeCkpts is a job whose savepoints wait for the test.
type fakeCkpts struct {
	mu    sync.Mutex
	names []string
	hold  chan struct{} // nil: answer at once
}

func (f *fakeCkpts) Stats() []checkpoint.Stats         { return nil }
func (f *fakeCkpts) Counts() (completed, failed int64) { return 0, 0 }
func (f *fakeCkpts) Savepoint(ctx context.Context, name string) (string, error) {
	f.mu.Lock()
	f.names = append(f.names, name)
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return "savepoints/" + name + "/", nil
}

func post(t *testing.T, url, token, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestSavepointToken: on loopback without a token savepoints are open;
// beyond loopback without one they are refused (403, naming http.token);
// with a token, a request without it or with a wrong one gets 401.
func TestSavepointToken(t *testing.T) {
	const token = "0123456789abcdef0123"
	cases := []struct {
		name, listen, token, send string
		want                      int
		says                      string
	}{
		{"loopback, no token", "127.0.0.1:0", "", "", http.StatusOK, "savepoints/sp/"},
		{"all interfaces, no token", "0.0.0.0:0", "", "", http.StatusForbidden, "http.token"},
		{"all interfaces, no token, one sent", "0.0.0.0:0", "", token, http.StatusForbidden, "TIDEMARK_HTTP_TOKEN"},
		{"all interfaces, token missing", "0.0.0.0:0", token, "", http.StatusUnauthorized, "bearer token"},
		{"all interfaces, token wrong", "0.0.0.0:0", token, token + "x", http.StatusUnauthorized, "bearer token"},
		{"all interfaces, token right", "0.0.0.0:0", token, token, http.StatusOK, "savepoints/sp/"},
		{"loopback, token missing", "127.0.0.1:0", token, "", http.StatusUnauthorized, "bearer token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, base := serve(t, c.listen, httpapi.WithToken(c.token))
			f := &fakeCkpts{}
			s.SetCheckpoints(f)
			resp, body := post(t, base+"/api/v1/savepoints", c.send, `{"name": "sp"}`)
			if resp.StatusCode != c.want || !strings.Contains(body, c.says) {
				t.Fatalf("POST = %d %q, want %d saying %q", resp.StatusCode, body, c.want, c.says)
			}
			if want := c.want == http.StatusOK; (len(f.names) == 1) != want {
				t.Errorf("savepoints taken: %v", f.names)
			}
			if c.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			// Reading stays open.
			if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
				t.Errorf("/readyz = %d", code)
			}
		})
	}
}

// TestSavepointRateLimit: one savepoint at a time, and none sooner than
// the interval after the previous one started (429 with Retry-After); a
// stop with a savepoint is never refused.
func TestSavepointRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s, base := serve(t, "127.0.0.1:0", httpapi.WithSavepointInterval(10*time.Second), httpapi.WithClock(clock))
	f := &fakeCkpts{hold: make(chan struct{})}
	s.SetCheckpoints(f)
	stops := 0
	s.SetStopper(func(context.Context, string) (string, error) { stops++; return "savepoints/final/", nil })
	url := base + "/api/v1/savepoints"

	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"name": "a"}`))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	// Wait until the first is being taken.
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.names)
		f.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first savepoint never started")
		}
		time.Sleep(time.Millisecond) // polling the fake's state, bounded
	}
	resp, body := post(t, url, "", `{"name": "b"}`)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "being taken") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("while one is taken: %d %q", resp.StatusCode, body)
	}
	close(f.hold)
	if code := <-first; code != http.StatusOK {
		t.Fatalf("first savepoint: %d", code)
	}
	advance(4 * time.Second)
	resp, body = post(t, url, "", `{"name": "c"}`)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "6" || !strings.Contains(body, "savepoints.min_interval") {
		t.Fatalf("4s after the first: %d %q Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	resp, body = post(t, url, "", `{"name": "final", "stop": true}`)
	if resp.StatusCode != http.StatusOK || stops != 1 {
		t.Fatalf("stop with savepoint within the interval: %d %q", resp.StatusCode, body)
	}
	advance(6 * time.Second)
	resp, body = post(t, url, "", `{"name": "d"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "savepoints/d/") {
		t.Fatalf("10s after the first: %d %q", resp.StatusCode, body)
	}
	if len(f.names) != 2 {
		t.Errorf("savepoints taken: %v", f.names)
	}
}

// fakeSources is a job's progress.
type fakeSources []job.PartitionProgress

func (f fakeSources) Progress() []job.PartitionProgress { return f }

// TestSources: positions, end offsets, lag and rates per partition and
// per source; without end offsets the reason is given and lag is null.
func TestSources(t *testing.T) {
	s, base := serve(t, "127.0.0.1:0")
	if code, _ := get(t, base+"/api/v1/sources"); code != http.StatusServiceUnavailable {
		t.Errorf("before a job: %d", code)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r1, r2 := 10.0, 5.0
	s.SetSources(fakeSources{
		{Source: "clicks", Topic: "c", Partition: 0, Offset: 100, Checkpoint: 7, At: at, Rate: &r1},
		{Source: "clicks", Topic: "c", Partition: 1, Offset: 50, Checkpoint: 7, At: at, Rate: &r2},
		{Source: "views", Topic: "v", Partition: 0, Offset: 9, Checkpoint: 7, At: at},
	})
	var resp httpapi.SourcesResponse
	code, body := get(t, base+"/api/v1/sources")
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != http.StatusOK {
		t.Fatalf("%d %q: %v", code, body, err)
	}
	if resp.EndOffsetsError == "" || resp.Sources[0].Lag != nil || resp.Checkpoint != 7 {
		t.Errorf("without end offsets: %s", body)
	}
	s.SetEndOffsets(func(_ context.Context, topics []string) (map[string]map[int32]int64, error) {
		if strings.Join(topics, ",") != "c,v" {
			return nil, errors.New("asked for " + strings.Join(topics, ","))
		}
		return map[string]map[int32]int64{"c": {0: 130, 1: 50}, "v": {0: 10}}, nil
	})
	resp = httpapi.SourcesResponse{}
	code, body = get(t, base+"/api/v1/sources")
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != http.StatusOK || resp.EndOffsetsError != "" {
		t.Fatalf("%d %q: %v", code, body, err)
	}
	if len(resp.Sources) != 2 {
		t.Fatalf("sources: %s", body)
	}
	c, v := resp.Sources[0], resp.Sources[1]
	if c.Name != "clicks" || *c.Lag != 30 || *c.Rate != 15 || len(c.Partitions) != 2 || *c.Partitions[0].EndOffset != 130 || *c.Partitions[0].Lag != 30 || *c.Partitions[1].Lag != 0 {
		t.Errorf("clicks: %s", body)
	}
	if v.Name != "views" || *v.Lag != 1 || v.Rate != nil {
		t.Errorf("views (no rate yet): %s", body)
	}
}
