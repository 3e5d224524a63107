package reference

import (
	"github.com/tidemark/tidemark/nexmark"
)

// Window sizes of the queries (seconds in the SQL).
const (
	tumbleSize = 10_000 // q7, q8: TUMBLE(…, INTERVAL '10' SECOND)
	hopSize    = 10_000 // q5: HOP(…, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
	hopSlide   = 2_000
	sessionGap = 10_000 // q11: SESSION(…, INTERVAL '10' SECOND)
)

// Q5 is the hot items: per hopping window (size 10 s, slide 2 s), the
// auctions with the most bids (all of them on a tie):
//
//	SELECT AuctionBids.auction, AuctionBids.num
//	FROM (SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
//	      GROUP BY auction, window_start, window_end) AS AuctionBids
//	JOIN (SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
//	      FROM (… the same counts …) AS CountBids
//	      GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
//	ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
//	   AND AuctionBids.num >= MaxBids.maxn
//
// A bid counts in each of its five windows that has not fired when it
// arrives (a window fires at watermark ≥ end − 1).
func Q5(in Input) *Result {
	r := &Result{Query: "q5", Columns: []Column{{"auction", Int}, {"num", Int}}}
	counts := map[int64]map[int64]int64{} // window start → auction → bids
	in.each(func(ev nexmark.Event, wm int64) {
		if ev.Kind != nexmark.KindBid {
			return
		}
		t := ev.Bid.DateTime
		for s := floorDiv(t, hopSlide) * hopSlide; s > t-hopSize; s -= hopSlide {
			if fired(s+hopSize, wm) {
				continue
			}
			c := counts[s]
			if c == nil {
				c = map[int64]int64{}
				counts[s] = c
			}
			c[ev.Bid.Auction]++
		}
	})
	for _, c := range counts {
		var maxn int64
		for _, n := range c {
			maxn = max(maxn, n)
		}
		for a, n := range c {
			if n >= maxn {
				r.Rows = append(r.Rows, Row{a, n})
			}
		}
	}
	r.sortRows()
	return r
}

// Q7 is the highest bid: the bids whose price is the maximum of a tumbling
// 10 s window, with dateTime between the window's end − 10 s and its end,
// both inclusive (so a bid at exactly a window's end matches that window
// too, and then appears once per match):
//
//	SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
//	FROM bid B
//	JOIN (SELECT MAX(price) AS maxprice, window_end as dateTime
//	      FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	      GROUP BY window_start, window_end) B1
//	ON B.price = B1.maxprice
//	WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime
//
// Columns by the SELECT's names with their true values (Flink inserts by
// position into a table declared auction, bidder, price, …, so its sink's
// bidder column holds the price and its price column the bidder). The
// maximum counts the bids its window accepts (not fired on arrival); the
// join, a regular join in Flink, matches every bid.
func Q7(in Input) *Result {
	r := &Result{Query: "q7", Columns: []Column{{"auction", Int}, {"price", Int}, {"bidder", Int}, {"dateTime", String}, {"extra", String}}}
	maxes := map[int64]int64{} // window start → max price
	in.each(func(ev nexmark.Event, wm int64) {
		if ev.Kind != nexmark.KindBid {
			return
		}
		b := ev.Bid
		s := floorDiv(b.DateTime, tumbleSize) * tumbleSize
		if fired(s+tumbleSize, wm) {
			return
		}
		if m, ok := maxes[s]; !ok || b.Price > m {
			maxes[s] = b.Price
		}
	})
	for _, ev := range in.Events {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		b := ev.Bid
		s := floorDiv(b.DateTime, tumbleSize) * tumbleSize
		starts := []int64{s}
		if b.DateTime == s { // also the end of the previous window
			starts = append(starts, s-tumbleSize)
		}
		for _, s := range starts {
			if m, ok := maxes[s]; ok && m == b.Price {
				r.Rows = append(r.Rows, Row{b.Auction, b.Price, b.Bidder, nexmark.FormatTime(b.DateTime), b.Extra})
			}
		}
	}
	r.sortRows()
	return r
}

// Q8 is the new users: people who opened an auction in the same tumbling
// 10 s window they registered in, one row per (person, window):
//
//	SELECT P.id, P.name, P.starttime
//	FROM (SELECT id, name, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	      GROUP BY id, name, window_start, window_end) P
//	JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	      GROUP BY seller, window_start, window_end) A
//	ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime
//
// stime is the window start in nexmark.SQLTimeLayout. Records of fired
// windows are dropped on both sides.
func Q8(in Input) *Result {
	r := &Result{Query: "q8", Columns: []Column{{"id", Int}, {"name", String}, {"stime", String}}}
	type person struct {
		start, id int64
		name      string
	}
	type seller struct{ start, id int64 }
	persons := map[person]bool{}
	sellers := map[seller]bool{}
	in.each(func(ev nexmark.Event, wm int64) {
		switch ev.Kind {
		case nexmark.KindPerson:
			p := ev.Person
			s := floorDiv(p.DateTime, tumbleSize) * tumbleSize
			if !fired(s+tumbleSize, wm) {
				persons[person{s, p.ID, p.Name}] = true
			}
		case nexmark.KindAuction:
			a := ev.Auction
			s := floorDiv(a.DateTime, tumbleSize) * tumbleSize
			if !fired(s+tumbleSize, wm) {
				sellers[seller{s, a.Seller}] = true
			}
		}
	})
	for p := range persons {
		if sellers[seller{p.start, p.id}] {
			r.Rows = append(r.Rows, Row{p.id, p.name, nexmark.FormatTime(p.start)})
		}
	}
	r.sortRows()
	return r
}

// Q11 is the user sessions: per bidder, the bids in sessions with a 10 s
// gap and their count:
//
//	SELECT B.bidder, count(*) as bid_count,
//	       SESSION_START(B.dateTime, INTERVAL '10' SECOND) as starttime,
//	       SESSION_END(B.dateTime, INTERVAL '10' SECOND) as endtime
//	FROM bid B
//	GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND)
//
// A bid at t opens the window [t, t+10 s) and merges with every live
// session of its bidder it intersects or touches (Flink's
// TimeWindow.intersects: bids exactly 10 s apart share a session);
// starttime is the first bid's time, endtime the last one's + 10 s, both in
// nexmark.SQLTimeLayout. A session fires at watermark ≥ end − 1; a bid that
// merges with no live session and whose own window has fired is dropped.
func Q11(in Input) *Result {
	r := &Result{Query: "q11", Columns: []Column{{"bidder", Int}, {"bid_count", Int}, {"starttime", String}, {"endtime", String}}}
	type session struct{ start, end, count int64 }
	live := map[int64][]session{}
	emit := func(bidder int64, s session) {
		r.Rows = append(r.Rows, Row{bidder, s.count, nexmark.FormatTime(s.start), nexmark.FormatTime(s.end)})
	}
	in.each(func(ev nexmark.Event, wm int64) {
		if ev.Kind != nexmark.KindBid {
			return
		}
		b := ev.Bid
		merged := session{b.DateTime, b.DateTime + sessionGap, 1}
		var rest []session
		for _, s := range live[b.Bidder] {
			switch {
			case fired(s.end, wm):
				emit(b.Bidder, s)
			case s.start <= merged.end && merged.start <= s.end:
				merged = session{min(s.start, merged.start), max(s.end, merged.end), s.count + merged.count}
			default:
				rest = append(rest, s)
			}
		}
		if !fired(merged.end, wm) {
			rest = append(rest, merged)
		}
		if len(rest) == 0 {
			delete(live, b.Bidder)
		} else {
			live[b.Bidder] = rest
		}
	})
	for bidder, ss := range live {
		for _, s := range ss {
			emit(bidder, s)
		}
	}
	r.sortRows()
	return r
}
