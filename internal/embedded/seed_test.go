package embedded

import (
	"testing"
	"time"
)

// TestSamplePagesRanked: the sample's pages have distinct popularity (so
// the windowed quickstart's top 3 ranks something), among the views too,
// and the same seq gives the same event.
func TestSamplePagesRanked(t *testing.T) {
	all, views := map[string]int{}, map[string]int{}
	for seq := range int64(10000) {
		ev := MakeEvent(seq, 50, time.Time{})
		if ev != MakeEvent(seq, 50, time.Time{}) {
			t.Fatalf("seq %d: two different events", seq)
		}
		all[ev.Page]++
		if ev.Action == "view" {
			views[ev.Page]++
		}
	}
	for _, counts := range []map[string]int{all, views} {
		if len(counts) != len(pages) {
			t.Fatalf("pages %v, want all of %v", counts, pages)
		}
		for i := 1; i < len(pages); i++ {
			if counts[pages[i-1]] <= counts[pages[i]] {
				t.Errorf("%s (%d) not more popular than %s (%d): %v", pages[i-1], counts[pages[i-1]], pages[i], counts[pages[i]], counts)
			}
		}
	}
}
