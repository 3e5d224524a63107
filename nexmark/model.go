package nexmark

// The numbering of Flink's generator with one generator, first event id 1
// and first event number 1 (NexmarkTableSourceFactory): the n-th event
// (n = 0, 1, …) has event number m = n + 1, adjusted event number m', and
// event id e = 1 + m'.

// eventNumber is m for the n-th event.
func eventNumber(n int64) int64 { return n + 1 }

// adjustedEventNumber is m' = floor(m/g)·g + (m·953 mod g)
// (GeneratorConfig.nextAdjustedEventNumber).
func (c Config) adjustedEventNumber(n int64) int64 {
	g := c.OutOfOrderGroup
	m := eventNumber(n)
	return (m/g)*g + (m*953)%g
}

// watermarkEventNumber is floor(m/g)·g: no later event has a smaller
// adjusted number (GeneratorConfig.nextEventNumberForWatermark).
func (c Config) watermarkEventNumber(n int64) int64 {
	g := c.OutOfOrderGroup
	return (eventNumber(n) / g) * g
}

// timestampForEvent is BaseTime + floor(floor(number·d)/1000) ms with d the
// inter-event delay in µs, a double as in Flink.
func (c Config) timestampForEvent(number int64) int64 {
	return c.BaseTime + int64(float64(number)*c.interEventDelayUs())/1000
}

// EventID is the event id e of the n-th event: 1 + m'.
func (c Config) EventID(n int64) int64 { return 1 + c.adjustedEventNumber(n) }

// EventTime is the event time (dateTime) of the n-th event, ms.
func (c Config) EventTime(n int64) int64 {
	return c.timestampForEvent(c.adjustedEventNumber(n))
}

// WallOffset is when, relative to the first event, the n-th event is due
// in real time (ms): its unadjusted event time minus BaseTime. Realtime
// emission waits for it.
func (c Config) WallOffset(n int64) int64 {
	return c.timestampForEvent(eventNumber(n)) - c.BaseTime
}

// Watermark is the smallest event time of the n-th and every later event
// (Flink's NextEvent.watermark).
func (c Config) Watermark(n int64) int64 {
	return c.timestampForEvent(c.watermarkEventNumber(n))
}

// KindOf is the kind of the event with id e: e mod total below the person
// proportion is a person, then auctions, then bids.
func (c Config) KindOf(e int64) Kind {
	rem := e % c.totalProportion()
	switch {
	case rem < int64(c.PersonProportion):
		return KindPerson
	case rem < int64(c.PersonProportion+c.AuctionProportion):
		return KindAuction
	}
	return KindBid
}

// lastBase0PersonID is the newest person id (base 0) at event id e: the
// person's own id for a person event.
func (c Config) lastBase0PersonID(e int64) int64 {
	epoch := e / c.totalProportion()
	offset := e % c.totalProportion()
	if offset >= int64(c.PersonProportion) {
		offset = int64(c.PersonProportion) - 1
	}
	return epoch*int64(c.PersonProportion) + offset
}

// lastBase0AuctionID is the newest auction id (base 0) at event id e: the
// auction's own id for an auction event, the previous epoch's last one for a
// person event.
func (c Config) lastBase0AuctionID(e int64) int64 {
	epoch := e / c.totalProportion()
	offset := e % c.totalProportion()
	switch {
	case offset < int64(c.PersonProportion):
		epoch--
		offset = int64(c.AuctionProportion) - 1
	case offset >= int64(c.PersonProportion+c.AuctionProportion):
		offset = int64(c.AuctionProportion) - 1
	default:
		offset -= int64(c.PersonProportion)
	}
	return epoch*int64(c.AuctionProportion) + offset
}

// HotSeller is the seller of a hot auction at event id e: the first person
// of the newest batch of 100.
func (c Config) HotSeller(e int64) int64 {
	return (c.lastBase0PersonID(e)/hotSellerBatch)*hotSellerBatch + FirstPersonID
}

// HotBidder is the bidder of a hot bid at event id e: the second person of
// the newest batch of 100, plus FirstPersonID twice (Flink's quirk).
func (c Config) HotBidder(e int64) int64 {
	return (c.lastBase0PersonID(e)/hotBidderSpan)*hotBidderSpan + 1 + 2*FirstPersonID
}

// HotAuction is the auction of a hot bid at event id e: the first auction
// of the newest batch of 100.
func (c Config) HotAuction(e int64) int64 {
	return (c.lastBase0AuctionID(e)/hotAuctionSpan)*hotAuctionSpan + FirstAuctionID
}

// auctionsHorizon is the number of events until InFlightAuctions more
// auctions are generated (1666 by default).
func (c Config) auctionsHorizon() int64 {
	return int64(c.InFlightAuctions) * c.totalProportion() / int64(c.AuctionProportion)
}
