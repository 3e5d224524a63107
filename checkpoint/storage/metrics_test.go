package storage_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/faulty"
	"github.com/tidemark/tidemark/checkpoint/storage/storagetest"
)

// TestWrapWithMetricsBehaves: the wrapped store passes the behaviour
// suite.
func TestWrapWithMetricsBehaves(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		st, err := storage.WrapWithMetrics(storage.NewMem(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// TestWrapWithMetricsCounts: requests are counted and timed by operation;
// failures are errors, but a missing object, an existing one and a
// cancelled request are not; a Get is recorded when its reader closes,
// with a read error.
func TestWrapWithMetricsCounts(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	fs := faulty.New(storage.NewMem())
	st, err := storage.WrapWithMetrics(fs, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := storage.WrapWithMetrics(fs, reg); err == nil {
		t.Error("a second wrapper registered on the same registry")
	}
	if err := st.Put(ctx, "a", strings.NewReader("xy"), 2); err != nil {
		t.Fatal(err)
	}
	if err := st.PutIfAbsent(ctx, "a", strings.NewReader("xy"), 2); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("PutIfAbsent of an existing key: %v", err)
	}
	if _, err := st.Stat(ctx, "missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat of a missing key: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.List(cctx, ""); err == nil {
		t.Fatal("List with a cancelled context succeeded")
	}
	rc, err := st.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(requests(reg, t, "get")); n != 0 {
		t.Errorf("get counted before its reader closed: %v", n)
	}
	if _, err := io.ReadAll(rc); err != nil {
		t.Fatal(err)
	}
	_ = rc.Close()
	inj := fs.Inject(faulty.Rule{Ops: faulty.OpDelete})
	if err := st.Delete(ctx, "a"); err == nil {
		t.Fatal("injected delete fault did not fail")
	}
	inj.Disarm()

	want := `
# HELP tidemark_storage_request_errors_total Checkpoint storage requests that failed, by operation (not found, already exists and cancellations are not counted).
# TYPE tidemark_storage_request_errors_total counter
tidemark_storage_request_errors_total{operation="delete"} 1
tidemark_storage_request_errors_total{operation="get"} 0
tidemark_storage_request_errors_total{operation="list"} 0
tidemark_storage_request_errors_total{operation="put"} 0
tidemark_storage_request_errors_total{operation="put_if_absent"} 0
tidemark_storage_request_errors_total{operation="stat"} 0
# HELP tidemark_storage_requests_total Checkpoint storage requests by operation.
# TYPE tidemark_storage_requests_total counter
tidemark_storage_requests_total{operation="delete"} 1
tidemark_storage_requests_total{operation="get"} 1
tidemark_storage_requests_total{operation="list"} 1
tidemark_storage_requests_total{operation="put"} 1
tidemark_storage_requests_total{operation="put_if_absent"} 1
tidemark_storage_requests_total{operation="stat"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tidemark_storage_requests_total", "tidemark_storage_request_errors_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "tidemark_storage_request_duration_seconds"); n != 6 {
		t.Errorf("duration histograms: %d series, want 6", n)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func requests(reg *prometheus.Registry, t *testing.T, op string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tidemark_storage_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == op {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("no %s series", op)
	return nil
}
