package nexmark

import (
	"fmt"
	"time"
)

// Kind is an event's type, the `event_type` of the JSON layout.
type Kind int8

// The event kinds, numbered as Flink's Event.Type.
const (
	KindPerson  Kind = 0
	KindAuction Kind = 1
	KindBid     Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindPerson:
		return "person"
	case KindAuction:
		return "auction"
	case KindBid:
		return "bid"
	}
	return fmt.Sprintf("kind(%d)", int8(k))
}

// Person is a new person (a seller or bidder). Times are ms since the
// epoch, UTC.
type Person struct {
	ID           int64
	Name         string
	EmailAddress string
	CreditCard   string
	City         string
	State        string
	DateTime     int64
	Extra        string
}

// Auction is a new auction.
type Auction struct {
	ID          int64
	ItemName    string
	Description string
	InitialBid  int64
	Reserve     int64
	DateTime    int64
	Expires     int64
	Seller      int64
	Category    int64
	Extra       string
}

// Bid is a bid on an auction.
type Bid struct {
	Auction  int64
	Bidder   int64
	Price    int64
	Channel  string
	URL      string
	DateTime int64
	Extra    string
}

// Event is one Nexmark event: exactly the field of its Kind is set.
type Event struct {
	Kind    Kind
	Person  *Person
	Auction *Auction
	Bid     *Bid
}

// DateTime is the event time of the event (its kind's dateTime), ms.
func (e Event) DateTime() int64 {
	switch e.Kind {
	case KindPerson:
		return e.Person.DateTime
	case KindAuction:
		return e.Auction.DateTime
	default:
		return e.Bid.DateTime
	}
}

// SQLTimeLayout is the layout of the timestamps in the JSON layout and in
// the queries' outputs: Flink's JSON `SQL` timestamp format with always three
// fraction digits, UTC.
const SQLTimeLayout = "2006-01-02 15:04:05.000"

// FormatTime formats ms since the epoch in SQLTimeLayout, UTC.
func FormatTime(ms int64) string {
	return string(AppendTime(nil, ms))
}

// AppendTime appends FormatTime(ms) to dst.
func AppendTime(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(dst, SQLTimeLayout)
	}
	h, mi, s := t.Clock()
	f := t.Nanosecond() / 1e6
	return append(dst,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), ' ',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

// ParseTime reads a timestamp `yyyy-MM-dd HH:mm:ss[.f…]` (0 to 9 fraction
// digits, UTC) and returns ms since the epoch (sub-millisecond digits are
// truncated).
func ParseTime(s string) (int64, error) {
	t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
	if err != nil {
		return 0, fmt.Errorf("nexmark: timestamp %q: want yyyy-MM-dd HH:mm:ss.SSS (UTC): %w", s, err)
	}
	return t.UnixMilli(), nil
}
