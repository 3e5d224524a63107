package alerteval

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Labels are a series' labels, its name under "__name__".
type Labels map[string]string

// key is a canonical form of ls.
func (ls Labels) key() string {
	ks := slices.Sorted(maps.Keys(ls))
	var b strings.Builder
	for _, k := range ks {
		fmt.Fprintf(&b, "%s=%q,", k, ls[k])
	}
	return b.String()
}

// without returns ls without its name.
func (ls Labels) without() Labels {
	out := maps.Clone(ls)
	delete(out, "__name__")
	return out
}

type sample struct {
	t time.Time
	v float64
}

type series struct {
	labels  Labels
	samples []sample // by time
}

// History holds the samples of successive scrapes.
type History struct {
	series map[string]*series
	times  []time.Time // of the scrapes
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{series: map[string]*series{}} }

// Times returns when the scrapes were taken.
func (h *History) Times() []time.Time { return slices.Clone(h.times) }

// Scrape adds the metrics in r (the Prometheus text format, as /metrics
// serves it) as taken at t, after every scrape before.
func (h *History) Scrape(t time.Time, r io.Reader) error {
	if n := len(h.times); n > 0 && !t.After(h.times[n-1]) {
		return fmt.Errorf("alerteval: scrape at %s is not after the last one (%s)", t, h.times[n-1])
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return fmt.Errorf("alerteval: parse scrape: %w", err)
	}
	h.times = append(h.times, t)
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			ls := Labels{}
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = l.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				h.add(name, ls, t, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				h.add(name, ls, t, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				h.add(name, ls, t, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM:
				hist := m.GetHistogram()
				h.add(name+"_count", ls, t, float64(hist.GetSampleCount()))
				h.add(name+"_sum", ls, t, hist.GetSampleSum())
				for _, b := range hist.GetBucket() {
					bl := maps.Clone(ls)
					bl["le"] = fmt.Sprint(b.GetUpperBound())
					h.add(name+"_bucket", bl, t, float64(b.GetCumulativeCount()))
				}
				inf := maps.Clone(ls)
				inf["le"] = "+Inf"
				h.add(name+"_bucket", inf, t, float64(hist.GetSampleCount()))
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				h.add(name+"_count", ls, t, float64(s.GetSampleCount()))
				h.add(name+"_sum", ls, t, s.GetSampleSum())
			}
		}
	}
	return nil
}

func (h *History) add(name string, ls Labels, t time.Time, v float64) {
	ls = maps.Clone(ls)
	ls["__name__"] = name
	k := ls.key()
	s := h.series[k]
	if s == nil {
		s = &series{labels: ls}
		h.series[k] = s
	}
	s.samples = append(s.samples, sample{t, v})
}

// lookback is how far back an instant selector finds a series' last
// sample (Prometheus' default).
const lookback = 5 * time.Minute

// selectSeries returns the series matching sel, sorted by labels.
func (h *History) selectSeries(sel *selector) []*series {
	var out []*series
	for _, s := range h.series {
		if sel.matches(s.labels) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].labels.key() < out[j].labels.key() })
	return out
}

// instant is the value of s at t: its last sample at or before t, within
// lookback; false if none.
func (s *series) instant(t time.Time) (float64, bool) {
	i := sort.Search(len(s.samples), func(i int) bool { return s.samples[i].t.After(t) }) - 1
	if i < 0 || t.Sub(s.samples[i].t) > lookback {
		return 0, false
	}
	return s.samples[i].v, true
}

// window returns s's samples in (t-d, t].
func (s *series) window(t time.Time, d time.Duration) []sample {
	var out []sample
	for _, x := range s.samples {
		if x.t.After(t.Add(-d)) && !x.t.After(t) {
			out = append(out, x)
		}
	}
	return out
}

// increase is the counter's increase over samples, counter resets
// accounted for, without extrapolation.
func increase(xs []sample) float64 {
	var inc float64
	for i := 1; i < len(xs); i++ {
		if d := xs[i].v - xs[i-1].v; d >= 0 {
			inc += d
		} else {
			inc += xs[i].v // a reset: counted from 0
		}
	}
	return inc
}

// deriv is the per-second slope of the least-squares line through xs.
func deriv(xs []sample) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	t0 := xs[0].t
	for _, x := range xs {
		tx := x.t.Sub(t0).Seconds()
		sx += tx
		sy += x.v
		sxx += tx * tx
		sxy += tx * x.v
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / den
}
