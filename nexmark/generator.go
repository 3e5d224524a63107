package nexmark

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Generator makes the events of one Config. Event(n) is a pure function of
// the Config and n. A Generator is not safe for concurrent use; Clone gives
// another one sharing the (immutable) tables.
type Generator struct {
	cfg Config
	tab *tables
	src rand.PCG
	rnd *rand.Rand
	buf []byte
}

// tables are the data Flink builds once per JVM from an unseeded random:
// the shared extra string and the channels' URLs. Here they come from the
// seed.
type tables struct {
	extra       string // extraStringLen bytes, 'H'…'z' (Flink's quirk)
	hotURLs     [4]string
	channels    [channelsNumber]string
	channelURLs [channelsNumber]string
}

var hotChannelNames = [4]string{"Google", "Facebook", "Baidu", "Apple"}

var (
	usStates   = []string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = []string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = []string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = []string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
)

// Streams of the seed other than the events' (an event's stream is a mix of
// its id, see eventStream).
const (
	streamExtra = 0x6e65786d61726b01 // "nexmark\x01"
	streamURLs  = 0x6e65786d61726b02
)

// New returns a generator for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, tab: newTables(cfg.Seed)}
	g.rnd = rand.New(&g.src)
	return g, nil
}

// Clone returns a generator of the same Config for another goroutine.
func (g *Generator) Clone() *Generator {
	c := &Generator{cfg: g.cfg, tab: g.tab}
	c.rnd = rand.New(&c.src)
	return c
}

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

func newTables(seed uint64) *tables {
	t := &tables{}
	r := rand.New(rand.NewPCG(seed, streamExtra))
	// StringsGenerator.nextExactString before its reusable string exists:
	// six letters per signed 31-bit draw, 'a' + rnd%26 with Java's signed
	// remainder, so negative draws give 'H'…'a'.
	b := make([]byte, extraStringLen)
	var rnd, left int32
	for i := range b {
		if left == 0 {
			rnd = int32(r.Uint32())
			left = 6
		}
		b[i] = byte('a' + rnd%26)
		rnd /= 26
		left--
	}
	t.extra = string(b)

	r = rand.New(rand.NewPCG(seed, streamURLs))
	for i := range t.hotURLs {
		t.hotURLs[i] = baseURL(r)
	}
	for i := range channelsNumber {
		url := baseURL(r)
		if r.IntN(10) > 0 {
			// Math.abs(Integer.reverse(i)): channel 1 gets -2147483648.
			id := int32(bits.Reverse32(uint32(i)))
			if id < 0 && id != math.MinInt32 {
				id = -id
			}
			url += "&channel_id=" + strconv.Itoa(int(id))
		}
		t.channels[i] = "channel-" + strconv.Itoa(i)
		t.channelURLs[i] = url
	}
	return t
}

func baseURL(r *rand.Rand) string {
	return "https://www.nexmark.com/" + nextString(r, 5, '_') + "/" + nextString(r, 5, '_') + "/" +
		nextString(r, 5, '_') + "/item.htm?query=1"
}

// nextString is StringsGenerator.nextString: 3 + U[0, maxLength−3)
// characters, each the special one with probability 1/13, else a–z; then
// trimmed of spaces.
func nextString(r *rand.Rand, maxLength int, special byte) string {
	n := minStringLen + r.IntN(maxLength-minStringLen)
	var b [128]byte
	s := b[:n]
	for i := range s {
		if r.IntN(13) == 0 {
			s[i] = special
		} else {
			s[i] = byte('a' + r.IntN(26))
		}
	}
	return strings.Trim(string(s), " ")
}

// eventStream is the second PCG seed of event id e (a SplitMix64 finalizer,
// so neighbouring ids get unrelated streams).
func eventStream(e int64) uint64 {
	z := uint64(e) + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Event returns the n-th event (n = 0, 1, …).
func (g *Generator) Event(n int64) Event {
	c := &g.cfg
	e := c.EventID(n)
	ts := c.EventTime(n)
	g.src.Seed(c.Seed, eventStream(e))
	switch c.KindOf(e) {
	case KindPerson:
		return Event{Kind: KindPerson, Person: g.person(e, ts)}
	case KindAuction:
		return Event{Kind: KindAuction, Auction: g.auction(n, e, ts)}
	}
	return Event{Kind: KindBid, Bid: g.bid(e, ts)}
}

// Events returns events n = start … start+count−1.
func (g *Generator) Events(start, count int64) []Event {
	out := make([]Event, count)
	for i := range out {
		out[i] = g.Event(start + int64(i))
	}
	return out
}

// AppendEventJSON appends the JSON of the n-th event to dst.
func (g *Generator) AppendEventJSON(dst []byte, n int64) []byte {
	ev := g.Event(n)
	return AppendJSON(dst, &ev)
}

// person is PersonGenerator.nextPerson.
func (g *Generator) person(e, ts int64) *Person {
	r := g.rnd
	p := &Person{ID: g.cfg.lastBase0PersonID(e) + FirstPersonID, DateTime: ts}
	p.Name = firstNames[r.IntN(len(firstNames))] + " " + lastNames[r.IntN(len(lastNames))]
	p.EmailAddress = nextString(r, 7, ' ') + "@" + nextString(r, 5, ' ') + ".com"
	cc := g.buf[:0]
	for i := range 4 {
		if i > 0 {
			cc = append(cc, ' ')
		}
		v := r.IntN(10000)
		cc = append(cc, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
	}
	g.buf = cc
	p.CreditCard = string(cc)
	p.City = usCities[r.IntN(len(usCities))]
	p.State = usStates[r.IntN(len(usStates))]
	size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State)
	p.Extra = g.nextExtra(size, g.cfg.AvgPersonBytes)
	return p
}

// auction is AuctionGenerator.nextAuction.
func (g *Generator) auction(n, e, ts int64) *Auction {
	c, r := &g.cfg, g.rnd
	a := &Auction{ID: c.lastBase0AuctionID(e) + FirstAuctionID, DateTime: ts}
	if r.IntN(c.HotSellersRatio) > 0 {
		a.Seller = c.HotSeller(e)
	} else {
		a.Seller = g.randomPerson(e) + FirstPersonID
	}
	a.Category = FirstCategoryID + int64(r.IntN(numCategories))
	a.InitialBid = nextPrice(r)
	// nextAuctionLengthMs: average length is the time until InFlightAuctions
	// more auctions exist.
	horizon := c.timestampForEvent(c.adjustedEventNumber(n)+c.auctionsHorizon()) - ts
	a.Expires = ts + 1 + g.nextLong(max(2*horizon, 1))
	a.ItemName = nextString(r, 20, ' ')
	a.Description = nextString(r, 100, ' ')
	a.Reserve = a.InitialBid + nextPrice(r)
	size := 8 + len(a.ItemName) + len(a.Description) + 8 + 8 + 8 + 8 + 8
	a.Extra = g.nextExtra(size, c.AvgAuctionBytes)
	return a
}

// bid is BidGenerator.nextBid.
func (g *Generator) bid(e, ts int64) *Bid {
	c, r := &g.cfg, g.rnd
	b := &Bid{DateTime: ts}
	if r.IntN(c.HotAuctionRatio) > 0 {
		b.Auction = c.HotAuction(e)
	} else {
		// AuctionGenerator.nextBase0AuctionId: one of the last
		// InFlightAuctions, or up to 10 ahead.
		last := c.lastBase0AuctionID(e)
		lo := max(last-int64(c.InFlightAuctions), 0)
		b.Auction = lo + g.nextLong(last-lo+1+auctionIDLead) + FirstAuctionID
	}
	if r.IntN(c.HotBiddersRatio) > 0 {
		b.Bidder = c.HotBidder(e)
	} else {
		b.Bidder = g.randomPerson(e) + 2*FirstPersonID
	}
	b.Price = nextPrice(r)
	if r.IntN(hotChannels) > 0 {
		i := r.IntN(len(hotChannelNames))
		b.Channel, b.URL = hotChannelNames[i], g.tab.hotURLs[i]
	} else {
		i := r.IntN(channelsNumber)
		b.Channel, b.URL = g.tab.channels[i], g.tab.channelURLs[i]
	}
	b.Extra = g.nextExtra(8+8+8+8, c.AvgBidBytes)
	return b
}

// randomPerson is PersonGenerator.nextBase0PersonId: one of the last
// ActivePeople people, or up to 10 not yet generated.
func (g *Generator) randomPerson(e int64) int64 {
	numPeople := g.cfg.lastBase0PersonID(e) + 1
	active := min(numPeople, int64(g.cfg.ActivePeople))
	return numPeople - active + g.nextLong(active+personIDLead)
}

// nextLong is LongGenerator.nextLong for the bounds that occur (< 2³¹):
// U[0, bound).
func (g *Generator) nextLong(bound int64) int64 {
	if bound < math.MaxInt32 {
		return int64(g.rnd.IntN(int(bound)))
	}
	return g.rnd.Int64N(bound)
}

// nextPrice is PriceGenerator.nextPrice: round(10^(U·6)·100), in [100, 10⁸].
func nextPrice(r *rand.Rand) int64 {
	return int64(math.Round(math.Pow(10, r.Float64()*6) * 100))
}

// nextExtra is StringsGenerator.nextExtra: a window of the shared string
// whose length brings currentSize to desiredAverage on average (± 20 %).
func (g *Generator) nextExtra(currentSize, desiredAverage int) string {
	if currentSize > desiredAverage {
		return ""
	}
	desiredAverage -= currentSize
	delta := int(math.Round(float64(desiredAverage) * 0.2))
	size := desiredAverage - delta
	if delta != 0 {
		size += g.rnd.IntN(2 * delta)
	}
	off := g.rnd.IntN(len(g.tab.extra) - size)
	return g.tab.extra[off : off+size]
}
