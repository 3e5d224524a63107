package rank

import (
	"fmt"
	"time"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// windows assigns records to event-time windows [start, end).
type windows struct {
	kind                string // tumbling, hopping, attached
	size, slide, offset int64  // ms
}

// parseWindow reads the window object of a configuration.
func parseWindow(c *plugin.ParsedConfig) (*windows, error) {
	kind, err := c.FieldString("type")
	if err != nil {
		return nil, err
	}
	w := &windows{kind: kind}
	ms := func(name string) (int64, error) {
		if !c.Contains(name) {
			return 0, nil
		}
		d, err := c.FieldDuration(name)
		return d.Milliseconds(), err
	}
	if w.size, err = ms("size"); err != nil {
		return nil, err
	}
	if w.slide, err = ms("slide"); err != nil {
		return nil, err
	}
	if w.offset, err = ms("offset"); err != nil {
		return nil, err
	}
	if kind == "tumbling" {
		w.slide = w.size
	}
	return w, nil
}

// checkWindow checks a window object's fields together.
func checkWindow(c *plugin.ParsedConfig) error {
	kind, _ := c.FieldString("window", "type")
	dur := func(name string) (time.Duration, bool) {
		if !c.Contains("window", name) {
			return 0, false
		}
		d, _ := c.FieldDuration("window", name)
		return d, true
	}
	size, hasSize := dur("size")
	slide, hasSlide := dur("slide")
	switch kind {
	case "tumbling", "hopping":
		if !hasSize || size < time.Millisecond || size%time.Millisecond != 0 {
			return plugin.FieldErrorf("window.size", "a %s window needs a size of whole milliseconds, at least 1ms", kind)
		}
	case "attached":
		if hasSize || hasSlide {
			return plugin.FieldErrorf("window.type", "an attached window takes the window each record carries: leave out size and slide")
		}
	}
	switch {
	case kind == "hopping" && (!hasSlide || slide < time.Millisecond || slide%time.Millisecond != 0):
		return plugin.FieldErrorf("window.slide", "a hopping window needs a slide of whole milliseconds, at least 1ms")
	case kind == "hopping" && size%slide != 0:
		return plugin.FieldErrorf("window.size", "must be a multiple of window.slide (%s), got %s", slide, size)
	case kind == "tumbling" && hasSlide:
		return plugin.FieldErrorf("window.slide", "a tumbling window has no slide (use a hopping window)")
	}
	return nil
}

// assign appends the windows of r to dst, as (start, end) pairs; an
// attached window the record does not carry is an error.
func (w *windows) assign(dst [][2]int64, r *operators.Record) ([][2]int64, error) {
	if w.kind == "attached" {
		if !r.HasWindow() {
			return dst, fmt.Errorf("the record carries no window (window type attached needs one set by a window operator upstream)")
		}
		return append(dst, [2]int64{r.WindowStart, r.WindowEnd}), nil
	}
	t, n := r.Timestamp, len(dst)
	last := floorDiv(t-w.offset, w.slide)*w.slide + w.offset // the latest window start ≤ t
	for s := last; s > t-w.size; s -= w.slide {
		dst = append(dst, [2]int64{s, s + w.size})
	}
	// Earliest first.
	for i, j := n, len(dst)-1; i < j; i, j = i+1, j-1 {
		dst[i], dst[j] = dst[j], dst[i]
	}
	return dst, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
