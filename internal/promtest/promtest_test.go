package promtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestReadsValues(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "c"}, []string{"task"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g", Help: "g"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "h"})
	reg.MustRegister(c, g, h)
	c.WithLabelValues("a").Add(2)
	c.WithLabelValues("b").Add(3)
	g.Set(7)
	h.Observe(1)
	h.Observe(2)
	if got := Sum(t, reg, "c_total"); got != 5 {
		t.Errorf("Sum(c_total) = %v, want 5", got)
	}
	if got := Labelled(t, reg, "c_total", "task", "b"); got != 3 {
		t.Errorf("Labelled(c_total, task=b) = %v, want 3", got)
	}
	if got := Labelled(t, reg, "g", "", ""); got != 7 {
		t.Errorf("Labelled(g) = %v, want 7", got)
	}
	if got := HistogramCount(t, reg, "h_seconds"); got != 2 {
		t.Errorf("HistogramCount(h_seconds) = %v, want 2", got)
	}
}
