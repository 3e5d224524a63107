package reference_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/nexmark"
	"github.com/tidemark/tidemark/nexmark/reference"
)

// t0 is 2025-01-01T00:00:00Z, a multiple of every window size.
const t0 = 1735689600000

type nexmarkEvent = nexmark.Event

func bid(auction, bidder, price, t int64, extra string) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindBid, Bid: &nexmark.Bid{Auction: auction, Bidder: bidder, Price: price,
		Channel: "Google", URL: "https://www.nexmark.com/a/b/c/item.htm?query=1", DateTime: t0 + t, Extra: extra}}
}

func person(id int64, name, city, state string, t int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindPerson, Person: &nexmark.Person{ID: id, Name: name, EmailAddress: "a@b.com",
		CreditCard: "1234 5678 9012 3456", City: city, State: state, DateTime: t0 + t}}
}

func auction(id, seller, category, t, expires int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindAuction, Auction: &nexmark.Auction{ID: id, ItemName: "item", Description: "d",
		InitialBid: 1, Reserve: 2, DateTime: t0 + t, Expires: t0 + expires, Seller: seller, Category: category}}
}

func one(events ...nexmark.Event) reference.Input {
	return reference.Input{Events: events, Partitions: 1}
}

// bidJSON is the q0/q18 JSON of a test bid (the URL and channel bid()
// sets), for building expected lines.
func bidJSON(auction, bidder, price int64, dateTime, extra string) string {
	return `{"auction":` + itoa(auction) + `,"bidder":` + itoa(bidder) + `,"price":` + itoa(price) +
		`,"channel":"Google","url":"https://www.nexmark.com/a/b/c/item.htm?query=1","dateTime":"` + dateTime +
		`","extra":"` + extra + `"}`
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func wantLines(t *testing.T, r *reference.Result, want ...string) {
	t.Helper()
	got := r.Lines()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", r.Query, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// records turns JSON values into append output records.
func records(values ...string) []reference.Record {
	out := make([]reference.Record, len(values))
	for i, v := range values {
		out[i] = reference.Record{Value: []byte(v)}
	}
	return out
}

// upserts turns key, value pairs into records ("" value: a tombstone).
func upserts(kv ...string) []reference.Record {
	var out []reference.Record
	for i := 0; i < len(kv); i += 2 {
		r := reference.Record{Key: []byte(kv[i])}
		if kv[i+1] != "" {
			r.Value = []byte(kv[i+1])
		}
		out = append(out, r)
	}
	return out
}
