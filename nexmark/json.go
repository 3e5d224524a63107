package nexmark

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	tmjson "github.com/tidemark/tidemark/format/json"
)

// AppendJSON appends the event in the Flink suite's Kafka layout
// (ddl_kafka.sql, format json) to dst:
//
//	{"event_type":2,"person":null,"auction":null,"bid":{"auction":1000,…}}
//
// Fields in the DDL's order, timestamps in SQLTimeLayout (UTC), strings
// escaped as JSON requires (the extra field can hold a backslash).
func AppendJSON(dst []byte, e *Event) []byte {
	dst = append(dst, `{"event_type":`...)
	dst = strconv.AppendInt(dst, int64(e.Kind), 10)
	dst = append(dst, `,"person":`...)
	if e.Kind == KindPerson {
		p := e.Person
		dst = appendIntField(dst, `{"id":`, p.ID)
		dst = appendStringField(dst, `,"name":`, p.Name)
		dst = appendStringField(dst, `,"emailAddress":`, p.EmailAddress)
		dst = appendStringField(dst, `,"creditCard":`, p.CreditCard)
		dst = appendStringField(dst, `,"city":`, p.City)
		dst = appendStringField(dst, `,"state":`, p.State)
		dst = appendTimeField(dst, `,"dateTime":`, p.DateTime)
		dst = appendStringField(dst, `,"extra":`, p.Extra)
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"auction":`...)
	if e.Kind == KindAuction {
		a := e.Auction
		dst = appendIntField(dst, `{"id":`, a.ID)
		dst = appendStringField(dst, `,"itemName":`, a.ItemName)
		dst = appendStringField(dst, `,"description":`, a.Description)
		dst = appendIntField(dst, `,"initialBid":`, a.InitialBid)
		dst = appendIntField(dst, `,"reserve":`, a.Reserve)
		dst = appendTimeField(dst, `,"dateTime":`, a.DateTime)
		dst = appendTimeField(dst, `,"expires":`, a.Expires)
		dst = appendIntField(dst, `,"seller":`, a.Seller)
		dst = appendIntField(dst, `,"category":`, a.Category)
		dst = appendStringField(dst, `,"extra":`, a.Extra)
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"bid":`...)
	if e.Kind == KindBid {
		b := e.Bid
		dst = appendIntField(dst, `{"auction":`, b.Auction)
		dst = appendIntField(dst, `,"bidder":`, b.Bidder)
		dst = appendIntField(dst, `,"price":`, b.Price)
		dst = appendStringField(dst, `,"channel":`, b.Channel)
		dst = appendStringField(dst, `,"url":`, b.URL)
		dst = appendTimeField(dst, `,"dateTime":`, b.DateTime)
		dst = appendStringField(dst, `,"extra":`, b.Extra)
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, '}')
}

func appendIntField(dst []byte, name string, v int64) []byte {
	return strconv.AppendInt(append(dst, name...), v, 10)
}

func appendTimeField(dst []byte, name string, ms int64) []byte {
	dst = append(append(dst, name...), '"')
	return append(AppendTime(dst, ms), '"')
}

func appendStringField(dst []byte, name, s string) []byte {
	return AppendString(append(dst, name...), s)
}

// AppendString appends s as a JSON string (format/json's encoding, as the
// processor's sink writes strings).
func AppendString(dst []byte, s string) []byte { return tmjson.AppendString(dst, s) }

// ErrJSON marks a record ParseJSON cannot read as a Nexmark event.
var ErrJSON = errors.New("nexmark: not a Nexmark event")

type jsonEvent struct {
	EventType *int         `json:"event_type"`
	Person    *jsonPerson  `json:"person"`
	Auction   *jsonAuction `json:"auction"`
	Bid       *jsonBid     `json:"bid"`
}

type jsonTime int64

func (t *jsonTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	ms, err := ParseTime(s)
	*t = jsonTime(ms)
	return err
}

type jsonPerson struct {
	ID           int64    `json:"id"`
	Name         string   `json:"name"`
	EmailAddress string   `json:"emailAddress"`
	CreditCard   string   `json:"creditCard"`
	City         string   `json:"city"`
	State        string   `json:"state"`
	DateTime     jsonTime `json:"dateTime"`
	Extra        string   `json:"extra"`
}

type jsonAuction struct {
	ID          int64    `json:"id"`
	ItemName    string   `json:"itemName"`
	Description string   `json:"description"`
	InitialBid  int64    `json:"initialBid"`
	Reserve     int64    `json:"reserve"`
	DateTime    jsonTime `json:"dateTime"`
	Expires     jsonTime `json:"expires"`
	Seller      int64    `json:"seller"`
	Category    int64    `json:"category"`
	Extra       string   `json:"extra"`
}

type jsonBid struct {
	Auction  int64    `json:"auction"`
	Bidder   int64    `json:"bidder"`
	Price    int64    `json:"price"`
	Channel  string   `json:"channel"`
	URL      string   `json:"url"`
	DateTime jsonTime `json:"dateTime"`
	Extra    string   `json:"extra"`
}

// ParseJSON reads one record of the JSON layout back (with encoding/json,
// independent of the processor's decoder). Unknown fields are refused; the
// object named by event_type must be present and the other two null.
func ParseJSON(data []byte) (Event, error) {
	var j jsonEvent
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Event{}, fmt.Errorf("%w: data after the object", ErrJSON)
	}
	if j.EventType == nil {
		return Event{}, fmt.Errorf("%w: no event_type", ErrJSON)
	}
	set := 0
	for _, p := range []bool{j.Person != nil, j.Auction != nil, j.Bid != nil} {
		if p {
			set++
		}
	}
	k := Kind(*j.EventType)
	switch {
	case set != 1:
		return Event{}, fmt.Errorf("%w: %d of person, auction, bid are set, want 1", ErrJSON, set)
	case k == KindPerson && j.Person != nil:
		p := j.Person
		return Event{Kind: k, Person: &Person{ID: p.ID, Name: p.Name, EmailAddress: p.EmailAddress,
			CreditCard: p.CreditCard, City: p.City, State: p.State, DateTime: int64(p.DateTime), Extra: p.Extra}}, nil
	case k == KindAuction && j.Auction != nil:
		a := j.Auction
		return Event{Kind: k, Auction: &Auction{ID: a.ID, ItemName: a.ItemName, Description: a.Description,
			InitialBid: a.InitialBid, Reserve: a.Reserve, DateTime: int64(a.DateTime), Expires: int64(a.Expires),
			Seller: a.Seller, Category: a.Category, Extra: a.Extra}}, nil
	case k == KindBid && j.Bid != nil:
		b := j.Bid
		return Event{Kind: k, Bid: &Bid{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, Channel: b.Channel,
			URL: b.URL, DateTime: int64(b.DateTime), Extra: b.Extra}}, nil
	}
	return Event{}, fmt.Errorf("%w: event_type %d does not match the object that is set", ErrJSON, *j.EventType)
}
