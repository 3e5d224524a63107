package nexmark

import (
	"errors"
	"fmt"
	"time"
)

// Model constants of Flink's generator (GeneratorConfig, the model classes).
const (
	// FirstPersonID is added to every base-0 person id (Flink adds it twice
	// to bidders).
	FirstPersonID = 1000
	// FirstAuctionID is added to every base-0 auction id.
	FirstAuctionID = 1000
	// FirstCategoryID is the smallest auction category.
	FirstCategoryID = 10

	numCategories  = 5
	personIDLead   = 10  // people not yet generated a random person may name
	auctionIDLead  = 10  // auctions not yet generated a random bid may name
	hotSellerBatch = 100 // a hot seller is the first person of a batch of 100
	hotAuctionSpan = 100 // a hot auction is the first of a batch of 100
	hotBidderSpan  = 100 // a hot bidder is the second person of a batch of 100
	hotChannels    = 2   // 1 in hotChannels bids uses a random (cold) channel
	channelsNumber = 10_000
	minStringLen   = 3
	extraStringLen = 1 << 20
	maxAvgBytes    = 100_000 // extras stay windows of the shared string
)

// DefaultBaseTime is the event time of the first event unless configured:
// 2025-01-01T00:00:00Z (Flink uses the wall clock at start; a fixed default
// keeps runs reproducible).
var DefaultBaseTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// Config is the generator's model. DefaultConfig gives Flink's
// NexmarkConfiguration defaults; Validate reports every bad field.
type Config struct {
	// Seed seeds every random choice.
	Seed uint64
	// BaseTime is the event time (ms since the epoch, UTC) of event number 0.
	BaseTime int64
	// Rate is the number of events per second of event time
	// (Flink's first-event.rate): event number m happens at
	// BaseTime + floor(floor(m·10⁶/Rate) / 1000) ms.
	Rate int
	// OutOfOrderGroup is the size g of the groups of consecutive events
	// emitted in a pseudo-random order (event number m' = floor(m/g)·g +
	// (m·953 mod g)); 1 keeps event time monotonic.
	OutOfOrderGroup int64
	// PersonProportion, AuctionProportion and BidProportion are the kinds'
	// shares of every 50 (by default) consecutive event ids: 1, 3, 46.
	PersonProportion, AuctionProportion, BidProportion int
	// HotAuctionRatio: 1 − 1/ratio of the bids go to the hot auction (2).
	HotAuctionRatio int
	// HotSellersRatio: 1 − 1/ratio of the auctions have the hot seller (4).
	HotSellersRatio int
	// HotBiddersRatio: 1 − 1/ratio of the bids come from the hot bidder (4).
	HotBiddersRatio int
	// AvgPersonBytes, AvgAuctionBytes and AvgBidBytes size the extra field
	// so that Flink's idealized event sizes average 200, 500 and 100 bytes.
	AvgPersonBytes, AvgAuctionBytes, AvgBidBytes int
	// InFlightAuctions is the number of recent auctions a cold bid chooses
	// from, and sets the auctions' average length (100).
	InFlightAuctions int
	// ActivePeople is the number of recent people a random seller or bidder
	// is chosen from (1000).
	ActivePeople int
}

// DefaultConfig returns Flink's defaults with seed 0 and DefaultBaseTime.
func DefaultConfig() Config {
	return Config{
		BaseTime:          DefaultBaseTime,
		Rate:              10_000,
		OutOfOrderGroup:   1,
		PersonProportion:  1,
		AuctionProportion: 3,
		BidProportion:     46,
		HotAuctionRatio:   2,
		HotSellersRatio:   4,
		HotBiddersRatio:   4,
		AvgPersonBytes:    200,
		AvgAuctionBytes:   500,
		AvgBidBytes:       100,
		InFlightAuctions:  100,
		ActivePeople:      1000,
	}
}

// ErrConfig marks a configuration Validate refuses.
var ErrConfig = errors.New("nexmark: bad configuration")

// Validate returns an error naming every field out of range, wrapping
// ErrConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("%s = %v: %s", field, v, want))
	}
	if c.Rate < 1 {
		bad("rate", c.Rate, "must be at least 1 event per second")
	}
	if c.OutOfOrderGroup < 1 {
		bad("out-of-order group", c.OutOfOrderGroup, "must be at least 1 (1: in order)")
	}
	if c.PersonProportion < 1 || c.AuctionProportion < 1 || c.BidProportion < 0 {
		bad("proportions", fmt.Sprintf("%d:%d:%d", c.PersonProportion, c.AuctionProportion, c.BidProportion),
			"need at least 1 person and 1 auction (person:auction:bid, default 1:3:46)")
	}
	for _, r := range []struct {
		name string
		v    int
	}{{"hot auction ratio", c.HotAuctionRatio}, {"hot sellers ratio", c.HotSellersRatio}, {"hot bidders ratio", c.HotBiddersRatio},
		{"in-flight auctions", c.InFlightAuctions}, {"active people", c.ActivePeople}} {
		if r.v < 1 {
			bad(r.name, r.v, "must be at least 1")
		}
	}
	for _, r := range []struct {
		name string
		v    int
	}{{"average person bytes", c.AvgPersonBytes}, {"average auction bytes", c.AvgAuctionBytes}, {"average bid bytes", c.AvgBidBytes}} {
		if r.v < 0 || r.v > maxAvgBytes {
			bad(r.name, r.v, fmt.Sprintf("must be within [0, %d]", maxAvgBytes))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}

// totalProportion is the length of an id epoch (50 by default).
func (c Config) totalProportion() int64 {
	return int64(c.PersonProportion + c.AuctionProportion + c.BidProportion)
}

// interEventDelayUs is the event-time distance of consecutive events, µs.
func (c Config) interEventDelayUs() float64 {
	return 1_000_000.0 / float64(c.Rate)
}
