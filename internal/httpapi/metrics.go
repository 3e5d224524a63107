package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// SetMetrics connects GET /metrics to g: the registry the job's metrics
// are registered on. Until then /metrics answers 503.
func (s *Server) SetMetrics(g prometheus.Gatherer) { s.metrics.Store(&g) }

// serveMetrics serves the metrics of the registry SetMetrics gave, in the
// Prometheus text format (or OpenMetrics when the scraper asks for it).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	p := s.metrics.Load()
	if p == nil {
		http.Error(w, "no metrics registry", http.StatusServiceUnavailable)
		return
	}
	promhttp.HandlerFor(*p, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}
