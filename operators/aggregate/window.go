package aggregate

import "math"

// floorDiv is ⌊a/b⌋ for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// addSat is a + b (b ≥ 0) saturated at math.MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// assign appends the tumbling or hopping windows holding t to dst, latest
// start first.
func (w *windowSpec) assign(dst []window, t int64) []window {
	last := floorDiv(t-w.offset, w.slide)*w.slide + w.offset
	for s := last; s > t-w.size; s -= w.slide {
		dst = append(dst, window{s, s + w.size})
	}
	return dst
}

// maxTs is the last timestamp of window w: it fires when the watermark
// reaches it.
func (w window) maxTs() int64 { return w.end - 1 }
