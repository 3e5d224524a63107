package opmetrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tidemark/tidemark/operators/opmetrics"
)

func TestLateRecordsSharedPerRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := opmetrics.LateRecords(reg, "windows")
	if err != nil {
		t.Fatal(err)
	}
	b, err := opmetrics.LateRecords(reg, "joined")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := opmetrics.LateRecords(reg, "windows")
	if err != nil {
		t.Fatal(err)
	}
	a.Inc()
	a2.Inc()
	b.Inc()
	if n := testutil.CollectAndCount(reg, opmetrics.LateRecordsName); n != 2 {
		t.Errorf("%d series, want one per operator (2)", n)
	}
	if v := testutil.ToFloat64(a); v != 2 {
		t.Errorf("windows counted %v, want 2 (one counter for the same operator)", v)
	}
	if _, err := opmetrics.LateRecords(nil, "x"); err != nil {
		t.Errorf("nil registry: %v", err)
	}
}

func TestLateRecordsNameTaken(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: opmetrics.LateRecordsName, Help: "other"}))
	if _, err := opmetrics.LateRecords(reg, "x"); err == nil {
		t.Error("no error with the name held by a plain counter")
	}
}
