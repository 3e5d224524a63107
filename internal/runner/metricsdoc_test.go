package runner

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators/opmetrics"
)

// describing is a Registerer that records the names of the metrics
// registered on it, whether or not they have series yet.
type describing struct{ names []string }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describing) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names = append(d.names, m[1])
		}
	}
	return nil
}

func (d *describing) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describing) Unregister(prometheus.Collector) bool { return false }

// registeredMetrics returns the name of every metric a running processor
// registers: the job's (coordinator, tasks, sinks, restores), the
// sources', the storage's, the scheduled drill's and the operators' own.
func registeredMetrics(t *testing.T) []string {
	t.Helper()
	d := &describing{}
	if _, err := newMetrics(d); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.WrapWithMetrics(storage.NewMem(), d); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.State.Dir = t.TempDir()
	cfg.Drill.Interval = time.Minute
	if _, err := newDrill(&cfg, storage.NewMem(), d, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if _, err := opmetrics.LateRecords(d, "x"); err != nil {
		t.Fatal(err)
	}
	slices.Sort(d.names)
	return slices.Compact(d.names)
}

// documentedMetrics returns the metric names in the first column of the
// README's metrics table.
func documentedMetrics(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Metrics\n")
	if !ok {
		t.Fatal("README.md has no \"## Metrics\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `(tidemark_[a-z0-9_]+)`")
	var names []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		names = append(names, m[1])
	}
	return names
}

// TestEveryMetricIsDocumented: every metric a processor registers has a
// row in the README's metrics table, and every row names a metric that
// exists; names follow Prometheus conventions.
func TestEveryMetricIsDocumented(t *testing.T) {
	registered := registeredMetrics(t)
	if len(registered) < 30 {
		t.Fatalf("only %d metrics registered: %v", len(registered), registered)
	}
	documented := documentedMetrics(t)
	for _, n := range registered {
		if !slices.Contains(documented, n) {
			t.Errorf("metric %s is not documented in the README's metrics table", n)
		}
		if !strings.HasPrefix(n, "tidemark_") {
			t.Errorf("metric %s lacks the tidemark_ prefix", n)
		}
		// Base units in the name (Prometheus conventions).
		if strings.Contains(n, "duration") && !strings.HasSuffix(n, "_seconds") {
			t.Errorf("metric %s is a duration: it must be in seconds and end in _seconds", n)
		}
		if strings.Contains(n, "bytes") && !strings.HasSuffix(n, "_bytes") && !strings.HasSuffix(n, "_bytes_total") {
			t.Errorf("metric %s counts bytes: it must end in _bytes (or _bytes_total)", n)
		}
		if strings.Contains(n, "_ms") || strings.Contains(n, "millis") {
			t.Errorf("metric %s: use seconds, not milliseconds", n)
		}
	}
	for _, n := range documented {
		if !slices.Contains(registered, n) {
			t.Errorf("the README documents metric %s, which no part of the processor registers", n)
		}
	}
}
