package reference_test

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/nexmark"
	"github.com/tidemark/tidemark/nexmark/reference"
)

var (
	cacheMu sync.Mutex
	cache   = map[int64][]nexmark.Event{}
)

// generated returns events 0 … n−1 of seed 5, modified by mod (cached
// when mod is nil).
func generated(t testing.TB, n int64, mod func(*nexmark.Config)) []nexmark.Event {
	t.Helper()
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if evs, ok := cache[n]; ok && mod == nil {
		return evs
	}
	cfg := nexmark.DefaultConfig()
	cfg.Seed = 5
	if mod != nil {
		mod(&cfg)
	}
	g, err := nexmark.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	evs := g.Events(0, n)
	if mod == nil {
		cache[n] = evs
	}
	return evs
}

// TestGeneratedNotLate: the default data is never behind a watermark, on
// any number of partitions; an out-of-order group spanning more than 4 s
// of event time is.
func TestGeneratedNotLate(t *testing.T) {
	evs := generated(t, 100_000, nil)
	for _, p := range []int{1, 3, 8} {
		if late := reference.BehindWatermark(reference.Input{Events: evs, Partitions: p}); len(late) != 0 {
			t.Errorf("%d partitions: %d events behind the watermark, first %d", p, len(late), late[0])
		}
	}
	// g = 100,000 events = 10 s at 10,000 events/s.
	evs = generated(t, 100_000, func(c *nexmark.Config) { c.OutOfOrderGroup = 100_000 })
	if late := reference.BehindWatermark(reference.Input{Events: evs, Partitions: 2}); len(late) == 0 {
		t.Error("groups of 10 s of events: nothing behind the watermark")
	}
}

// TestGeneratedQueries runs every query on generated data, checks each
// has output, and that Check accepts that output written as a processor
// would (JSON rows; upserts with earlier values and tombstones before the
// final ones), in a partition interleaving the reference did not assume,
// and refuses it with one row changed.
func TestGeneratedQueries(t *testing.T) {
	evs := generated(t, 20_000, nil)
	multi := reference.Input{Events: evs, Partitions: 3}
	single := reference.Input{Events: evs, Partitions: 1}
	for _, name := range reference.Names {
		start := time.Now()
		r, err := reference.Query(name, multi)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d rows, %d keys in %v", name, len(r.Rows), len(r.Final), time.Since(start))
		if len(r.Rows)+len(r.Final) == 0 {
			t.Errorf("%s: no output", name)
			continue
		}
		// Slice order is one interleaving of the three partitions, so the
		// single-stream result is a valid output of the 3-partition run.
		s, _ := reference.Query(name, single)
		var recs []reference.Record
		if r.Mode == reference.Append {
			for _, row := range s.Rows {
				recs = append(recs, reference.Record{Value: []byte(s.FormatRow(row))})
			}
			slices.Reverse(recs)
		} else {
			for i, f := range s.Final {
				if len(f.Rows) != 1 {
					t.Fatalf("%s: single partition, key %v has %d rows", name, f.Key, len(f.Rows))
				}
				key := reference.EncodeKey(f.Key)
				if i%3 == 0 { // an earlier value, then a delete, then the final one
					recs = append(recs, reference.Record{Key: key, Value: []byte(s.FormatRow(s.Final[(i+1)%len(s.Final)].Rows[0]))},
						reference.Record{Key: key})
				}
				recs = append(recs, reference.Record{Key: key, Value: []byte(s.FormatRow(f.Rows[0]))})
			}
		}
		if err := r.Check(recs); err != nil {
			t.Errorf("%s: Check: %v", name, err)
		}
		// One changed digit fails.
		last := &recs[len(recs)-1]
		changed := strings.Replace(string(last.Value), `:1`, `:2`, 1)
		if changed == string(last.Value) {
			changed = strings.Replace(string(last.Value), `"`, `"x`, 1)
		}
		last.Value = []byte(changed)
		if err := r.Check(recs); !errors.Is(err, reference.ErrMismatch) {
			t.Errorf("%s: Check accepted %s: %v", name, changed, err)
		}
	}
}

// TestQ19MatchesSort compares q19 with a plain stable sort of every
// auction's bids.
func TestQ19MatchesSort(t *testing.T) {
	evs := generated(t, 50_000, nil)
	r := reference.Q19(reference.Input{Events: evs})
	byAuction := map[int64][]*nexmark.Bid{}
	for _, ev := range evs {
		if ev.Kind == nexmark.KindBid {
			byAuction[ev.Bid.Auction] = append(byAuction[ev.Bid.Auction], ev.Bid)
		}
	}
	var want []string
	for a, bids := range byAuction {
		slices.SortStableFunc(bids, func(x, y *nexmark.Bid) int { return cmp.Compare(y.Price, x.Price) })
		for i, b := range bids[:min(10, len(bids))] {
			want = append(want, itoa(a)+"/"+itoa(int64(i+1))+"/"+itoa(b.Price)+"/"+b.Extra)
		}
	}
	var got []string
	for _, f := range r.Final {
		if len(f.Rows) != 1 {
			t.Fatalf("key %v: %d rows on one partition", f.Key, len(f.Rows))
		}
		row := f.Rows[0]
		got = append(got, itoa(f.Key[0].(int64))+"/"+itoa(f.Key[1].(int64))+"/"+itoa(row[2].(int64))+"/"+row[6].(string))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("q19 differs from a sort: %d rows, want %d", len(got), len(want))
	}
}

// TestQ11MatchesSort compares q11 (with no late data) with splitting each
// bidder's sorted bid times at gaps over 10 s.
func TestQ11MatchesSort(t *testing.T) {
	evs := generated(t, 50_000, nil)
	r := reference.Q11(reference.Input{Events: evs, Partitions: 4})
	times := map[int64][]int64{}
	for _, ev := range evs {
		if ev.Kind == nexmark.KindBid {
			times[ev.Bid.Bidder] = append(times[ev.Bid.Bidder], ev.Bid.DateTime)
		}
	}
	var want []string
	for b, ts := range times {
		slices.Sort(ts)
		start, n := ts[0], int64(1)
		for i := 1; i <= len(ts); i++ {
			if i == len(ts) || ts[i]-ts[i-1] > 10_000 {
				want = append(want, itoa(b)+"/"+itoa(n)+"/"+nexmark.FormatTime(start)+"/"+nexmark.FormatTime(ts[i-1]+10_000))
				if i < len(ts) {
					start, n = ts[i], 0
				}
			}
			n++
		}
	}
	var got []string
	for _, row := range r.Rows {
		got = append(got, itoa(row[0].(int64))+"/"+itoa(row[1].(int64))+"/"+row[2].(string)+"/"+row[3].(string))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("q11 differs from sorting: %d sessions, want %d", len(got), len(want))
	}
}
