package nexmark_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tidemark/tidemark/nexmark"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func newGen(t testing.TB, mod func(*nexmark.Config)) *nexmark.Generator {
	t.Helper()
	cfg := nexmark.DefaultConfig()
	cfg.Seed = 42
	if mod != nil {
		mod(&cfg)
	}
	g, err := nexmark.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const base = 1735689600000 // 2025-01-01T00:00:00Z

// TestFirstEvents checks the first events against values computed by hand
// from Flink's model (event number m = n+1, id e = m+1, e mod 50: 0 person,
// 1–3 auction, else bid; time = base + floor(m·100 µs / 1000)).
func TestFirstEvents(t *testing.T) {
	g := newGen(t, nil)
	if nexmark.DefaultBaseTime != base {
		t.Fatalf("DefaultBaseTime = %d, want %d", nexmark.DefaultBaseTime, base)
	}
	// n=0: e=2, the first auction: id = 3·0 + (2−1) − 0 + 1000 = 1001.
	a := g.Event(0)
	if a.Kind != nexmark.KindAuction || a.Auction.ID != 1001 || a.Auction.DateTime != base {
		t.Fatalf("event 0 = %+v %+v, want auction 1001 at base", a, a.Auction)
	}
	// Seller: the hot seller (person base-0 0 → 1000) or a random one of
	// the 1 person + 10 lead: 1000…1010.
	if s := a.Auction.Seller; s < 1000 || s > 1010 {
		t.Errorf("event 0 seller = %d, want 1000…1010", s)
	}
	if c := a.Auction.Category; c < 10 || c > 14 {
		t.Errorf("event 0 category = %d, want 10…14", c)
	}
	// Horizon: time of event number 1+1666 (166 ms) − 0 → expires in
	// [base+1, base+332].
	if x := a.Auction.Expires; x < base+1 || x > base+332 {
		t.Errorf("event 0 expires = %d, want base+1…base+332", x-base)
	}
	if a.Auction.InitialBid < 100 || a.Auction.Reserve < a.Auction.InitialBid+100 {
		t.Errorf("event 0 initialBid %d reserve %d", a.Auction.InitialBid, a.Auction.Reserve)
	}
	// n=1: e=3, auction 1002; n=2: e=4, the first bid.
	if e := g.Event(1); e.Kind != nexmark.KindAuction || e.Auction.ID != 1002 {
		t.Errorf("event 1 = %v %+v, want auction 1002", e.Kind, e.Auction)
	}
	b := g.Event(2)
	if b.Kind != nexmark.KindBid {
		t.Fatalf("event 2 is a %v, want a bid", b.Kind)
	}
	// Hot auction: newest auction base-0 2 → batch 0 → 1000; else
	// U[0, 2+10] + 1000. Hot bidder 0+1+2000 = 2001; else U[0,11) + 2000.
	if x := b.Bid.Auction; x < 1000 || x > 1012 {
		t.Errorf("event 2 auction = %d, want 1000…1012", x)
	}
	if x := b.Bid.Bidder; x < 2000 || x > 2010 {
		t.Errorf("event 2 bidder = %d, want 2000…2010", x)
	}
	if x := b.Bid.Price; x < 100 || x > 100_000_000 {
		t.Errorf("event 2 price = %d", x)
	}
	// n=48: e=50, the first person, id 1 + 1000; time floor(49·100/1000) = 4.
	p := g.Event(48)
	if p.Kind != nexmark.KindPerson || p.Person.ID != 1001 || p.Person.DateTime != base+4 {
		t.Errorf("event 48 = %v %+v, want person 1001 at base+4", p.Kind, p.Person)
	}
	// n=99: e=101, epoch 2 offset 1: auction 3·2+0+1000 = 1006, at 10 ms.
	if e := g.Event(99); e.Kind != nexmark.KindAuction || e.Auction.ID != 1006 || e.Auction.DateTime != base+10 {
		t.Errorf("event 99 = %v %+v, want auction 1006 at base+10", e.Kind, e.Auction)
	}
	// n=999_999: m = 10⁶ → 100,000 ms; e = 1,000,001 (mod 50 = 1): auction
	// 3·20000+0+1000 = 61000.
	if e := g.Event(999_999); e.Kind != nexmark.KindAuction || e.Auction.ID != 61000 || e.Auction.DateTime != base+100_000 {
		t.Errorf("event 999999 = %v %+v", e.Kind, e.Auction)
	}
	// A late bid of epoch 20000 (e = 1,000,004): hot auction 61000/100·100
	// = 61000, hot bidder 20000/100·100+1+2000 = 22001.
	cfg := g.Config()
	if h := cfg.HotAuction(1_000_004); h != 61000 {
		t.Errorf("HotAuction = %d, want 61000", h)
	}
	if h := cfg.HotBidder(1_000_004); h != 22001 {
		t.Errorf("HotBidder = %d, want 22001", h)
	}
	if h := cfg.HotSeller(1_000_004); h != 21000 {
		t.Errorf("HotSeller = %d, want 21000", h)
	}
	// Strings: letters, spaces trimmed; email s7@s5.com; card 4×4 digits.
	per := p.Person
	if !strings.HasSuffix(per.EmailAddress, ".com") || strings.Count(per.EmailAddress, "@") != 1 {
		t.Errorf("email %q", per.EmailAddress)
	}
	if len(per.CreditCard) != 19 || strings.Count(per.CreditCard, " ") != 3 {
		t.Errorf("credit card %q", per.CreditCard)
	}
}

// TestEventTime checks times from the rate and the out-of-order groups.
func TestEventTime(t *testing.T) {
	cfg := nexmark.DefaultConfig()
	cfg.Rate = 3 // d = 333333.33 µs
	for n, want := range map[int64]int64{0: 333, 1: 666, 2: 1000, 299: 100_000} {
		if got := cfg.EventTime(n) - cfg.BaseTime; got != want {
			t.Errorf("rate 3: EventTime(%d) = base+%d, want base+%d", n, got, want)
		}
	}
	// g = 10, 953 ≡ 3 (mod 10): m = 1…9 → m' = 3, 6, 9, 2, 5, 8, 1, 4, 7;
	// m = 10 → 10; m = 11 → 13.
	cfg = nexmark.DefaultConfig()
	cfg.OutOfOrderGroup = 10
	for n, want := range []int64{3, 6, 9, 2, 5, 8, 1, 4, 7, 10, 13} {
		if got := cfg.EventID(int64(n)) - 1; got != want {
			t.Errorf("g=10: m'(%d) = %d, want %d", n, got, want)
		}
	}
	if w := cfg.Watermark(12); w != cfg.BaseTime+1 { // m=13 → 10 → 1 ms
		t.Errorf("g=10: Watermark(12) = base+%d, want base+1", w-cfg.BaseTime)
	}
}

// TestOutOfOrderPermutes: an event depends only on its id, so a group
// size only reorders the events of the in-order run.
func TestOutOfOrderPermutes(t *testing.T) {
	in := newGen(t, nil)
	ooo := newGen(t, func(c *nexmark.Config) { c.OutOfOrderGroup = 10 })
	for n := int64(0); n < 2000; n++ {
		e := ooo.Config().EventID(n)
		want := in.AppendEventJSON(nil, e-2) // in order, event n has id n+2
		if got := ooo.AppendEventJSON(nil, n); !bytes.Equal(got, want) {
			t.Fatalf("g=10 event %d (id %d) = %s, want in-order event %d %s", n, e, got, e-2, want)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := newGen(t, nil), newGen(t, nil)
	c := a.Clone()
	other := newGen(t, func(c *nexmark.Config) { c.Seed = 43 })
	const n = 20_000
	same := 0
	for i := int64(n - 1); i >= 0; i-- { // random access: order does not matter
		x := a.AppendEventJSON(nil, i)
		if y := b.AppendEventJSON(nil, i); !bytes.Equal(x, y) {
			t.Fatalf("event %d differs between two generators of one config:\n%s\n%s", i, x, y)
		}
		if y := c.AppendEventJSON(nil, n-1-i); !bytes.Equal(a.AppendEventJSON(nil, n-1-i), y) {
			t.Fatalf("clone differs at %d", n-1-i)
		}
		if bytes.Equal(x, other.AppendEventJSON(nil, i)) {
			same++
		}
	}
	if same != 0 {
		t.Errorf("%d events equal under seeds 42 and 43", same)
	}
}

// TestGolden pins the bytes of the first events of seed 42, so a change of
// the generator (and of every topic generated from a seed) is deliberate:
// go test ./nexmark -run TestGolden -update.
func TestGolden(t *testing.T) {
	g := newGen(t, nil)
	var buf bytes.Buffer
	for n := int64(0); n < 52; n++ {
		buf.Write(g.AppendEventJSON(nil, n))
		buf.WriteByte('\n')
	}
	path := filepath.Join("testdata", "seed42.golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("events of seed 42 changed; if deliberate, run with -update:\n%s", buf.String())
	}
}

// TestProportions generates 1M events and checks the kinds exactly and the
// hot ratios, prices, channels and sizes statistically.
func TestProportions(t *testing.T) {
	g := newGen(t, nil)
	cfg := g.Config()
	const total = 1_000_000
	type counts struct {
		kind                            [3]int64
		hotAuction, hotBidder, hotSell  int64
		rank1, hotChannel, withChannel  int64
		bidExtra, personBytes, auctionB int64
		lastTime                        int64
		nonMonotonic                    int64
	}
	const workers = 4
	var parts [workers]counts
	var wg sync.WaitGroup
	for w := range workers {
		gw := g.Clone()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &parts[w]
			prev := int64(math.MinInt64)
			for n := int64(w) * total / workers; n < int64(w+1)*total/workers; n++ {
				ev := gw.Event(n)
				e := cfg.EventID(n)
				c.kind[ev.Kind]++
				if ev.DateTime() < prev {
					c.nonMonotonic++
				}
				prev = ev.DateTime()
				c.lastTime = max(c.lastTime, prev)
				switch ev.Kind {
				case nexmark.KindBid:
					b := ev.Bid
					if b.Auction == cfg.HotAuction(e) {
						c.hotAuction++
					}
					if b.Bidder == cfg.HotBidder(e) {
						c.hotBidder++
					}
					if b.Price < 10_000 {
						c.rank1++
					}
					switch b.Channel {
					case "Google", "Facebook", "Baidu", "Apple":
						c.hotChannel++
					}
					if strings.Contains(b.URL, "&channel_id=") {
						c.withChannel++
					}
					c.bidExtra += int64(len(b.Extra))
				case nexmark.KindAuction:
					a := ev.Auction
					if a.Seller == cfg.HotSeller(e) {
						c.hotSell++
					}
					c.auctionB += int64(8 + len(a.ItemName) + len(a.Description) + 40 + len(a.Extra))
				case nexmark.KindPerson:
					p := ev.Person
					c.personBytes += int64(8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State) + len(p.Extra))
				}
			}
		}()
	}
	wg.Wait()
	var c counts
	for _, p := range parts {
		for k := range c.kind {
			c.kind[k] += p.kind[k]
		}
		c.hotAuction += p.hotAuction
		c.hotBidder += p.hotBidder
		c.hotSell += p.hotSell
		c.rank1 += p.rank1
		c.hotChannel += p.hotChannel
		c.withChannel += p.withChannel
		c.bidExtra += p.bidExtra
		c.personBytes += p.personBytes
		c.auctionB += p.auctionB
		c.lastTime = max(c.lastTime, p.lastTime)
		c.nonMonotonic += p.nonMonotonic
	}
	// Ids 2 … 1,000,001: persons are e ≡ 0, auctions e ≡ 1, 2, 3 (mod 50).
	var want [3]int64
	for e := int64(2); e <= total+1; e++ {
		switch r := e % 50; {
		case r == 0:
			want[0]++
		case r <= 3:
			want[1]++
		default:
			want[2]++
		}
	}
	if c.kind != want || want != [3]int64{20000, 60000, 920000} {
		t.Errorf("kinds = %v, want %v = 20000:60000:920000", c.kind, want)
	}
	if c.nonMonotonic != 0 || c.lastTime != base+100_000 {
		t.Errorf("event time: %d steps back, last base+%d, want 0 and base+100000", c.nonMonotonic, c.lastTime-base)
	}
	bids, auctions, persons := float64(c.kind[2]), float64(c.kind[1]), float64(c.kind[0])
	// A cold choice hits the hot value by chance too: 1 in 111 auctions,
	// about 1 in 1010 people.
	within(t, "hot auction share", float64(c.hotAuction)/bids, 0.5+0.5/111, 0.004)
	within(t, "hot bidder share", float64(c.hotBidder)/bids, 0.75+0.25/1010, 0.004)
	within(t, "hot seller share", float64(c.hotSell)/auctions, 0.75+0.25/1010, 0.01)
	within(t, "price < 10,000 share", float64(c.rank1)/bids, 1.0/3, 0.004)
	within(t, "hot channel share", float64(c.hotChannel)/bids, 0.5, 0.004)
	// 90 % of the 10,000 cold channels' URLs carry a channel id.
	within(t, "URLs with channel_id", float64(c.withChannel)/bids, 0.5*0.9, 0.01)
	within(t, "bid extra length", float64(c.bidExtra)/bids, 67.5, 0.5)
	within(t, "person idealized bytes", float64(c.personBytes)/persons, 200, 2)
	within(t, "auction idealized bytes", float64(c.auctionB)/auctions, 500, 3)
}

func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.5f, want %.5f ± %g", what, got, want, tol)
	} else {
		t.Logf("%s = %.5f (want %.5f ± %g)", what, got, want, tol)
	}
}

// TestJSONLayout checks the layout against the suite's DDL and that
// ParseJSON (and encoding/json) read it back.
func TestJSONLayout(t *testing.T) {
	g := newGen(t, nil)
	fields := map[nexmark.Kind][]string{
		nexmark.KindPerson:  {"id", "name", "emailAddress", "creditCard", "city", "state", "dateTime", "extra"},
		nexmark.KindAuction: {"id", "itemName", "description", "initialBid", "reserve", "dateTime", "expires", "seller", "category", "extra"},
		nexmark.KindBid:     {"auction", "bidder", "price", "channel", "url", "dateTime", "extra"},
	}
	names := []string{"person", "auction", "bid"}
	backslashes := 0
	for n := int64(0); n < 5000; n++ {
		ev := g.Event(n)
		data := nexmark.AppendJSON(nil, &ev)
		backslashes += bytes.Count(data, []byte(`\\`))
		// Top level: event_type, person, auction, bid, in that order.
		keys := objectKeys(t, data)
		if !reflect.DeepEqual(keys, []string{"event_type", "person", "auction", "bid"}) {
			t.Fatalf("event %d keys %v", n, keys)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(data, &top); err != nil {
			t.Fatalf("event %d: %v: %s", n, err, data)
		}
		for k, name := range names {
			raw := top[name]
			if nexmark.Kind(k) != ev.Kind {
				if string(raw) != "null" {
					t.Fatalf("event %d (%v): %s = %s, want null", n, ev.Kind, name, raw)
				}
				continue
			}
			if got := objectKeys(t, raw); !reflect.DeepEqual(got, fields[ev.Kind]) {
				t.Fatalf("event %d %s keys %v, want %v", n, name, got, fields[ev.Kind])
			}
		}
		back, err := nexmark.ParseJSON(data)
		if err != nil {
			t.Fatalf("event %d: ParseJSON: %v", n, err)
		}
		if !reflect.DeepEqual(back, ev) {
			t.Fatalf("event %d: ParseJSON = %+v, want %+v", n, back, ev)
		}
	}
	if backslashes == 0 {
		t.Error("no extra field held a backslash: the 'H'…'z' alphabet is not reproduced")
	}
	ev := g.Event(2)
	data := string(nexmark.AppendJSON(nil, &ev))
	if !strings.Contains(data, `"dateTime":"2025-01-01 00:00:00.000"`) {
		t.Errorf("bid 2 has no dateTime with three fraction digits: %s", data)
	}
}

// objectKeys lists a JSON object's keys in order.
func objectKeys(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", data)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestParseJSONRefuses(t *testing.T) {
	for _, in := range []string{
		`{"event_type":2,"person":null,"auction":null,"bid":null}`,
		`{"event_type":1,"person":null,"auction":null,"bid":{"auction":1,"bidder":2,"price":3,"channel":"x","url":"u","dateTime":"2025-01-01 00:00:00.000","extra":""}}`,
		`{"person":null,"auction":null,"bid":null}`,
		`{"event_type":2,"bid":{"auction":1,"dateTime":"yesterday"}}`,
		`{"event_type":2,"bid":{"auction":1,"dateTime":"2025-01-01 00:00:00.000","colour":"red"}}`,
		`{"event_type":2,"bid":{"auction":1,"dateTime":"2025-01-01 00:00:00.000"}} trailing`,
		`[]`,
	} {
		if _, err := nexmark.ParseJSON([]byte(in)); !errors.Is(err, nexmark.ErrJSON) {
			t.Errorf("ParseJSON(%s) = %v, want ErrJSON", in, err)
		}
	}
}

func TestTime(t *testing.T) {
	if s := nexmark.FormatTime(base + 1_234); s != "2025-01-01 00:00:01.234" {
		t.Errorf("FormatTime = %q", s)
	}
	if s := nexmark.FormatTime(0); s != "1970-01-01 00:00:00.000" {
		t.Errorf("FormatTime(0) = %q", s)
	}
	for in, want := range map[string]int64{
		"2025-01-01 00:00:01.234":       base + 1234,
		"2025-01-01 00:00:01":           base + 1000,
		"2025-01-01 00:00:01.2":         base + 1200,
		"2025-01-01 00:00:01.234999999": base + 1234,
	} {
		if got, err := nexmark.ParseTime(in); err != nil || got != want {
			t.Errorf("ParseTime(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := nexmark.ParseTime("2025-01-01T00:00:01Z"); err == nil {
		t.Error("ParseTime accepted RFC 3339")
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := nexmark.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg.Rate = 0
	cfg.OutOfOrderGroup = 0
	cfg.AuctionProportion = 0
	cfg.AvgBidBytes = -1
	err := cfg.Validate()
	if !errors.Is(err, nexmark.ErrConfig) {
		t.Fatalf("Validate = %v, want ErrConfig", err)
	}
	for _, want := range []string{"rate = 0", "out-of-order group = 0", "proportions = 1:0:46", "average bid bytes = -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not name %q", err, want)
		}
	}
	if _, err := nexmark.New(cfg); !errors.Is(err, nexmark.ErrConfig) {
		t.Errorf("New = %v, want ErrConfig", err)
	}
}
