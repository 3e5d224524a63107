package exprbench

import (
	"bytes"

	gojson "github.com/goccy/go-json"
	"github.com/valyala/fastjson"
)

// ParseMapGoccy is ParseMap with github.com/goccy/go-json.
func ParseMapGoccy(b []byte) (map[string]any, error) {
	d := gojson.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	for k, v := range m {
		if n, ok := v.(gojson.Number); ok {
			if i, err := n.Int64(); err == nil {
				m[k] = i
			} else {
				f, _ := n.Float64()
				m[k] = f
			}
		}
	}
	return m, nil
}

// FastParser parses with github.com/valyala/fastjson, reusing its arena,
// and builds the same map[string]any.
type FastParser struct{ p fastjson.Parser }

// ParseMap parses b into a map with int64/float64 numbers.
func (fp *FastParser) ParseMap(b []byte) (map[string]any, error) {
	v, err := fp.p.ParseBytes(b)
	if err != nil {
		return nil, err
	}
	o, err := v.Object()
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, o.Len())
	o.Visit(func(k []byte, v *fastjson.Value) { m[string(k)] = toAny(v) })
	return m, nil
}

func toAny(v *fastjson.Value) any {
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeNumber:
		if i, err := v.Int64(); err == nil {
			return i
		}
		return v.GetFloat64()
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	case fastjson.TypeNull:
		return nil
	case fastjson.TypeArray:
		a := v.GetArray()
		out := make([]any, len(a))
		for i, e := range a {
			out[i] = toAny(e)
		}
		return out
	case fastjson.TypeObject:
		o := v.GetObject()
		m := make(map[string]any, o.Len())
		o.Visit(func(k []byte, e *fastjson.Value) { m[string(k)] = toAny(e) })
		return m
	}
	return nil
}

// ParseBid parses the typed view with fastjson.
func (fp *FastParser) ParseBid(b []byte) (Bid, error) {
	v, err := fp.p.ParseBytes(b)
	if err != nil {
		return Bid{}, err
	}
	return Bid{
		Auction: v.GetInt64("auction"), Bidder: v.GetInt64("bidder"), Price: v.GetInt64("price"),
		Channel: string(v.GetStringBytes("channel")), URL: string(v.GetStringBytes("url")),
		DateTime: string(v.GetStringBytes("dateTime")), Extra: string(v.GetStringBytes("extra")),
	}, nil
}
