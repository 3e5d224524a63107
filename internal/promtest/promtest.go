package promtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// family returns the gathered family of name, failing t if there is none.
func family(t testing.TB, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// value is a gauge's or a counter's value (an untyped series reads 0).
func value(m *dto.Metric) float64 {
	return m.GetGauge().GetValue() + m.GetCounter().GetValue()
}

// Sum returns the sum of every series of the gauge or counter name.
func Sum(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	var sum float64
	for _, m := range family(t, reg, name).GetMetric() {
		sum += value(m)
	}
	return sum
}

// Labelled returns the value of the first series of the gauge or counter
// name whose label has val (the first series of all when label is "").
func Labelled(t testing.TB, reg prometheus.Gatherer, name, label, val string) float64 {
	t.Helper()
	for _, m := range family(t, reg, name).GetMetric() {
		if label == "" {
			return value(m)
		}
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == val {
				return value(m)
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, val)
	return 0
}

// HistogramCount returns the sample count of the histogram name, which
// must have exactly one series.
func HistogramCount(t testing.TB, reg prometheus.Gatherer, name string) uint64 {
	t.Helper()
	ms := family(t, reg, name).GetMetric()
	if len(ms) != 1 {
		t.Fatalf("histogram %s has %d series, want 1", name, len(ms))
	}
	return ms[0].GetHistogram().GetSampleCount()
}
