package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/httpapi"
)

// TestMetricsEndpoint: GET /metrics answers 503 until a registry is
// connected, then serves its metrics in the Prometheus text format.
func TestMetricsEndpoint(t *testing.T) {
	s, err := httpapi.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, zap.NewNop()) }()
	url := "http://" + s.Addr() + "/metrics"
	if code, _ := get(t, url); code != http.StatusServiceUnavailable {
		t.Errorf("/metrics without a registry = %d, want 503", code)
	}
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "tidemark_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(3)
	s.SetMetrics(reg)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q, want the Prometheus text format", ct)
	}
	code, body := get(t, url)
	if code != http.StatusOK || !strings.Contains(body, "# TYPE tidemark_test_total counter\ntidemark_test_total 3\n") {
		t.Errorf("/metrics = %d %q", code, body)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
