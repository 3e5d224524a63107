package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Operations, the values of the "operation" label of the storage metrics.
const (
	OpPut         = "put"
	OpPutIfAbsent = "put_if_absent"
	OpGet         = "get"
	OpStat        = "stat"
	OpList        = "list"
	OpDelete      = "delete"
)

var operations = []string{OpPut, OpPutIfAbsent, OpGet, OpStat, OpList, OpDelete}

// WrapWithMetrics returns st with every request timed and counted in
// metrics registered on reg (in the manner of thanos' objstore
// WrapWithMetrics):
//
//   - tidemark_storage_request_duration_seconds{operation}: a histogram of
//     each request's duration; a Get is timed until its reader is closed,
//     so that it covers the transfer;
//   - tidemark_storage_requests_total{operation}: requests made;
//   - tidemark_storage_request_errors_total{operation}: requests that
//     failed. Outcomes callers expect are not errors: a missing object
//     (ErrNotFound), an object that exists already (ErrExists on
//     PutIfAbsent), and a request cancelled because its context ended.
//
// Wrap one store per registry: a second wrapper on the same registry
// fails to register.
func WrapWithMetrics(st Store, reg prometheus.Registerer) (Store, error) {
	m := &metricStore{
		inner: st,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tidemark_storage_request_duration_seconds",
			Help:    "Duration of checkpoint storage requests by operation (a get until its body is read and closed).",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"operation"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_storage_requests_total",
			Help: "Checkpoint storage requests by operation.",
		}, []string{"operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_storage_request_errors_total",
			Help: "Checkpoint storage requests that failed, by operation (not found, already exists and cancellations are not counted).",
		}, []string{"operation"}),
	}
	for _, op := range operations {
		m.duration.WithLabelValues(op)
		m.requests.WithLabelValues(op)
		m.errors.WithLabelValues(op)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.duration, m.requests, m.errors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("storage: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

type metricStore struct {
	inner    Store
	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
}

// done records one request of op that started at start and ended with err.
func (m *metricStore) done(op string, start time.Time, err error) {
	m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	m.requests.WithLabelValues(op).Inc()
	if err != nil && !expected(err) {
		m.errors.WithLabelValues(op).Inc()
	}
}

func expected(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) ||
		errors.Is(err, context.Canceled) || errors.Is(err, io.EOF)
}

func (m *metricStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	start := time.Now()
	err := m.inner.Put(ctx, key, r, size)
	m.done(OpPut, start, err)
	return err
}

func (m *metricStore) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	start := time.Now()
	err := m.inner.PutIfAbsent(ctx, key, r, size)
	m.done(OpPutIfAbsent, start, err)
	return err
}

func (m *metricStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := m.inner.Get(ctx, key)
	if err != nil {
		m.done(OpGet, start, err)
		return nil, err
	}
	return &timedReader{ReadCloser: rc, m: m, start: start}, nil
}

func (m *metricStore) Stat(ctx context.Context, key string) (Info, error) {
	start := time.Now()
	in, err := m.inner.Stat(ctx, key)
	m.done(OpStat, start, err)
	return in, err
}

func (m *metricStore) List(ctx context.Context, prefix string) ([]Info, error) {
	start := time.Now()
	l, err := m.inner.List(ctx, prefix)
	m.done(OpList, start, err)
	return l, err
}

func (m *metricStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := m.inner.Delete(ctx, key)
	m.done(OpDelete, start, err)
	return err
}

func (m *metricStore) Close() error { return m.inner.Close() }

// timedReader records its Get when closed, with the first read error
// other than io.EOF.
type timedReader struct {
	io.ReadCloser
	m     *metricStore
	start time.Time
	err   error
	once  sync.Once
}

func (t *timedReader) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if err != nil && t.err == nil && !errors.Is(err, io.EOF) {
		t.err = err
	}
	return n, err
}

func (t *timedReader) Close() error {
	err := t.ReadCloser.Close()
	t.once.Do(func() { t.m.done(OpGet, t.start, errors.Join(t.err, err)) })
	return err
}
