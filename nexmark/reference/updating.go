package reference

import (
	"slices"
	"time"

	"github.com/tidemark/tidemark/nexmark"
)

// q15Columns are q15's output fields.
var q15Columns = []Column{{"day", String},
	{"total_bids", Int}, {"rank1_bids", Int}, {"rank2_bids", Int}, {"rank3_bids", Int},
	{"total_bidders", Int}, {"rank1_bidders", Int}, {"rank2_bidders", Int}, {"rank3_bidders", Int},
	{"total_auctions", Int}, {"rank1_auctions", Int}, {"rank2_auctions", Int}, {"rank3_auctions", Int}}

// Q15 is the bidding statistics per UTC day: bids, distinct bidders and
// distinct auctions, in total and per price rank (rank 1: price < 10,000;
// rank 2: [10,000, 1,000,000); rank 3: ≥ 1,000,000):
//
//	SELECT DATE_FORMAT(dateTime, 'yyyy-MM-dd') as day,
//	  count(*) AS total_bids,
//	  count(*) filter (where price < 10000) AS rank1_bids, … rank2_bids, rank3_bids,
//	  count(distinct bidder) AS total_bidders, … rank1_bidders …,
//	  count(distinct auction) AS total_auctions, … rank1_auctions …
//	FROM bid GROUP BY DATE_FORMAT(dateTime, 'yyyy-MM-dd')
//
// Key day.
func Q15(in Input) *Result {
	r := &Result{Query: "q15", Mode: Upsert, Columns: q15Columns, KeyColumns: []string{"day"}}
	type day struct {
		bids     [4]int64
		bidders  [4]map[int64]struct{}
		auctions [4]map[int64]struct{}
	}
	days := map[string]*day{}
	for _, ev := range in.Events {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		b := ev.Bid
		k := time.UnixMilli(b.DateTime).UTC().Format(time.DateOnly)
		d := days[k]
		if d == nil {
			d = &day{}
			for i := range 4 {
				d.bidders[i], d.auctions[i] = map[int64]struct{}{}, map[int64]struct{}{}
			}
			days[k] = d
		}
		rank := 3
		switch {
		case b.Price < 10_000:
			rank = 1
		case b.Price < 1_000_000:
			rank = 2
		}
		for _, i := range []int{0, rank} {
			d.bids[i]++
			d.bidders[i][b.Bidder] = struct{}{}
			d.auctions[i][b.Auction] = struct{}{}
		}
	}
	for k, d := range days {
		row := Row{k}
		for i := range 4 {
			row = append(row, d.bids[i])
		}
		for i := range 4 {
			row = append(row, int64(len(d.bidders[i])))
		}
		for i := range 4 {
			row = append(row, int64(len(d.auctions[i])))
		}
		r.Final = append(r.Final, Final{Key: []any{k}, Rows: []Row{row}})
	}
	r.sortFinal()
	return r
}

func bidRow(b *nexmark.Bid) Row {
	return Row{b.Auction, b.Bidder, b.Price, b.Channel, b.URL, nexmark.FormatTime(b.DateTime), b.Extra}
}

// Q18 is the last bid of each bidder on each auction:
//
//	SELECT auction, bidder, price, channel, url, dateTime, extra
//	FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC) AS rank_number
//	      FROM bid)
//	WHERE rank_number <= 1
//
// Flink runs it as a keep-last deduplication on event time: a row replaces
// the stored one when stored.dateTime <= row.dateTime, so of the bids with
// the largest dateTime the last to arrive wins. Arrival order is only known
// within a partition, so Final lists, for a tie, the last such bid of each
// partition. Key [bidder, auction].
func Q18(in Input) *Result {
	r := &Result{Query: "q18", Mode: Upsert, Columns: bidColumns, KeyColumns: []string{"bidder", "auction"}}
	type pair struct{ bidder, auction int64 }
	type latest struct {
		t    int64
		last []*nexmark.Bid // per partition with a bid at t: its last one
		part []int
	}
	keys := map[pair]*latest{}
	p := in.partitions()
	for i, ev := range in.Events {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		b, q := ev.Bid, i%p
		k := pair{b.Bidder, b.Auction}
		l := keys[k]
		switch {
		case l == nil || b.DateTime > l.t:
			keys[k] = &latest{t: b.DateTime, last: []*nexmark.Bid{b}, part: []int{q}}
		case b.DateTime == l.t:
			if j := slices.Index(l.part, q); j >= 0 {
				l.last[j] = b
			} else {
				l.last, l.part = append(l.last, b), append(l.part, q)
			}
		}
	}
	for k, l := range keys {
		f := Final{Key: []any{k.bidder, k.auction}}
		for _, b := range l.last {
			f.Rows = append(f.Rows, bidRow(b))
		}
		r.Final = append(r.Final, f)
	}
	r.sortFinal()
	return r
}

// q19N is q19's rank limit.
const q19N = 10

// Q19 is the top 10 bids of each auction by price:
//
//	SELECT * FROM
//	(SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bid)
//	WHERE rank_number <= 10
//
// Flink's append-only top-N keeps ties in arrival order (a later bid of an
// equal price ranks below). The price at every rank is determined by the
// input; which of several bids of one price hold a run of ranks depends on
// how the partitions interleave: Final lists, per rank, every bid that can
// hold it, and Check requires the bids of a run to be, per partition, the
// first ones in that partition's order. Columns: the bid's, then
// rank_number; key [auction, rank_number].
func Q19(in Input) *Result {
	cols := append(slices.Clip(bidColumns), Column{"rank_number", Int})
	r := &Result{Query: "q19", Mode: Upsert, Columns: cols, KeyColumns: []string{"auction", "rank_number"}}
	type entry struct {
		b    *nexmark.Bid
		part int
	}
	// Per auction, the bids in rank order (price desc, then arrival) whose
	// price is at least the 10th one's: the top 10 and the ties at the cut.
	tops := map[int64][]entry{}
	p := in.partitions()
	for i, ev := range in.Events {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		b := ev.Bid
		top := tops[b.Auction]
		if len(top) >= q19N && b.Price < top[q19N-1].b.Price {
			continue
		}
		at, _ := slices.BinarySearchFunc(top, b.Price, func(e entry, price int64) int {
			if e.b.Price >= price { // equal prices keep arrival order
				return -1
			}
			return 1
		})
		top = slices.Insert(top, at, entry{b, i % p})
		if len(top) > q19N {
			cut := top[q19N-1].b.Price
			for len(top) > q19N && top[len(top)-1].b.Price < cut {
				top = top[:len(top)-1]
			}
		}
		tops[b.Auction] = top
	}
	for auction, top := range tops {
		for first := 0; first < min(len(top), q19N); {
			price := top[first].b.Price
			end := first
			for end < len(top) && top[end].b.Price == price {
				end++
			}
			g := tieGroup{auction: auction, first: int64(first + 1), slots: min(end, q19N) - first, byPartition: make([][]Row, p)}
			for _, e := range top[first:end] {
				g.byPartition[e.part] = append(g.byPartition[e.part], bidRow(e.b))
			}
			tied := end - first
			for j := range g.slots {
				rank := g.first + int64(j)
				f := Final{Key: []any{auction, rank}}
				// The bid at position i of its partition's list has the i
				// before it ranked above, and j − i bids of the other
				// partitions: it can hold rank first+j if j − i ≤ theirs.
				for _, rows := range g.byPartition {
					others := tied - len(rows)
					for i := max(0, j-others); i <= j && i < len(rows); i++ {
						f.Rows = append(f.Rows, append(slices.Clip(rows[i]), rank))
					}
				}
				r.Final = append(r.Final, f)
			}
			if g.slots > 1 {
				r.ties = append(r.ties, g)
			}
			first = end
		}
	}
	r.sortFinal()
	return r
}
