package reference

import "github.com/tidemark/tidemark/nexmark"

// Q3 joins auctions of category 10 with their sellers from Oregon, Idaho
// or California, over the whole input (a regular join keeps both sides
// forever, so arrival order does not matter):
//
//	SELECT P.name, P.city, P.state, A.id
//	FROM auction AS A INNER JOIN person AS P on A.seller = P.id
//	WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')
func Q3(in Input) *Result {
	r := &Result{Query: "q3", Columns: []Column{{"name", String}, {"city", String}, {"state", String}, {"id", Int}}}
	persons := map[int64][]*nexmark.Person{}
	var auctions []*nexmark.Auction
	for _, ev := range in.Events {
		switch ev.Kind {
		case nexmark.KindPerson:
			if p := ev.Person; p.State == "OR" || p.State == "ID" || p.State == "CA" {
				persons[p.ID] = append(persons[p.ID], p)
			}
		case nexmark.KindAuction:
			if ev.Auction.Category == 10 {
				auctions = append(auctions, ev.Auction)
			}
		}
	}
	for _, a := range auctions {
		for _, p := range persons[a.Seller] {
			r.Rows = append(r.Rows, Row{p.Name, p.City, p.State, a.ID})
		}
	}
	r.sortRows()
	return r
}

// Q4 is the average closing price per category: per auction, the highest
// bid between its start and its expiry (both inclusive); per category, the
// average of those (auctions without such a bid do not count), an integer
// truncated toward zero as Flink's AVG(BIGINT):
//
//	SELECT Q.category, AVG(Q.final)
//	FROM (SELECT MAX(B.price) AS final, A.category
//	      FROM auction A, bid B
//	      WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//	      GROUP BY A.id, A.category) Q
//	GROUP BY Q.category
//
// Output columns id (the category, the sink table's name) and final; key id.
func Q4(in Input) *Result {
	r := &Result{Query: "q4", Mode: Upsert, Columns: []Column{{"id", Int}, {"final", Int}}, KeyColumns: []string{"id"}}
	auctions := map[int64][]*nexmark.Auction{}
	for _, ev := range in.Events {
		if ev.Kind == nexmark.KindAuction {
			auctions[ev.Auction.ID] = append(auctions[ev.Auction.ID], ev.Auction)
		}
	}
	type group struct{ id, category int64 }
	finals := map[group]int64{}
	for _, ev := range in.Events {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		b := ev.Bid
		for _, a := range auctions[b.Auction] {
			if a.DateTime <= b.DateTime && b.DateTime <= a.Expires {
				g := group{a.ID, a.Category}
				if f, ok := finals[g]; !ok || b.Price > f {
					finals[g] = b.Price
				}
			}
		}
	}
	type avg struct{ sum, n int64 }
	cats := map[int64]*avg{}
	for g, f := range finals {
		a := cats[g.category]
		if a == nil {
			a = &avg{}
			cats[g.category] = a
		}
		a.sum += f
		a.n++
	}
	for c, a := range cats {
		r.Final = append(r.Final, Final{Key: []any{c}, Rows: []Row{{c, a.sum / a.n}}})
	}
	r.sortFinal()
	return r
}
