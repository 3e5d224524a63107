package reference

import "github.com/tidemark/tidemark/nexmark"

// Q0 is the passthrough:
//
//	SELECT auction, bidder, price, dateTime, extra FROM bid
func Q0(in Input) *Result {
	r := &Result{Query: "q0", Columns: []Column{{"auction", Int}, {"bidder", Int}, {"price", Int}, {"dateTime", String}, {"extra", String}}}
	for _, ev := range in.Events {
		if b := ev.Bid; ev.Kind == nexmark.KindBid {
			r.Rows = append(r.Rows, Row{b.Auction, b.Bidder, b.Price, nexmark.FormatTime(b.DateTime), b.Extra})
		}
	}
	r.sortRows()
	return r
}

// Q1 converts the price to euros, an exact DECIMAL(23,3):
//
//	SELECT auction, bidder, 0.908 * price as price, dateTime, extra FROM bid
func Q1(in Input) *Result {
	r := &Result{Query: "q1", Columns: []Column{{"auction", Int}, {"bidder", Int}, {"price", Decimal}, {"dateTime", String}, {"extra", String}}}
	for _, ev := range in.Events {
		if b := ev.Bid; ev.Kind == nexmark.KindBid {
			r.Rows = append(r.Rows, Row{b.Auction, b.Bidder, DecimalValue(b.Price * 908), nexmark.FormatTime(b.DateTime), b.Extra})
		}
	}
	r.sortRows()
	return r
}

// Q2 selects the bids of every 123rd auction:
//
//	SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
func Q2(in Input) *Result {
	r := &Result{Query: "q2", Columns: []Column{{"auction", Int}, {"price", Int}}}
	for _, ev := range in.Events {
		if b := ev.Bid; ev.Kind == nexmark.KindBid && b.Auction%123 == 0 {
			r.Rows = append(r.Rows, Row{b.Auction, b.Price})
		}
	}
	r.sortRows()
	return r
}
