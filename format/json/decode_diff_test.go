package json

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

// fastjsonDecoder is the decoder Decoder replaced (fastjson, then a walk
// of its tree), kept as the reference Decoder must agree with.
type fastjsonDecoder struct {
	p fastjson.Parser
	// arena holds the bytes of the strings of the value being decoded:
	// one allocation for all of them.
	arena []byte
	num   []byte // scratch: a number's text
}

// Decode decodes b, which it does not retain. Errors wrap ErrSyntax.
func (d *fastjsonDecoder) Decode(b []byte) (any, error) {
	v, err := d.p.ParseBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	// Strings never take more bytes decoded than encoded.
	d.arena = make([]byte, 0, len(b))
	out, err := d.value(v)
	d.arena = nil
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (d *fastjsonDecoder) value(v *fastjson.Value) (any, error) {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		m := make(map[string]any, o.Len())
		var err error
		o.Visit(func(k []byte, e *fastjson.Value) {
			if err != nil {
				return
			}
			var x any
			if x, err = d.value(e); err == nil {
				m[(&Decoder{}).key(k)] = x
			}
		})
		if err != nil {
			return nil, err
		}
		return m, nil
	case fastjson.TypeArray:
		a, _ := v.Array()
		out := make([]any, len(a))
		for i, e := range a {
			x, err := d.value(e)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		return (&Decoder{arena: make([]byte, 0, len(s))}).str(s), nil
	case fastjson.TypeNumber:
		d.num = v.MarshalTo(d.num[:0])
		return number(d.num)
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse:
		return false, nil
	case fastjson.TypeNull:
		return nil, nil
	}
	return nil, fmt.Errorf("%w: unexpected value type %s", ErrSyntax, v.Type())
}

// sameDecode checks that Decoder and fastjsonDecoder agree on b: both
// refuse it (ErrSyntax), or both give equal values.
func sameDecode(t *testing.T, d *Decoder, b []byte) {
	t.Helper()
	var ref fastjsonDecoder
	want, werr := ref.Decode(b)
	got, err := d.Decode(b)
	switch {
	case (werr == nil) != (err == nil):
		t.Fatalf("%q: Decode = %#v, %v; fastjson's = %#v, %v", b, got, err, want, werr)
	case err != nil:
		if !errors.Is(err, ErrSyntax) {
			t.Fatalf("%q: error %v does not wrap ErrSyntax", b, err)
		}
	case !reflect.DeepEqual(got, want) || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want): // %#v: -0 differs from 0
		t.Fatalf("%q: Decode = %#v, fastjson's = %#v", b, got, want)
	}
}

var diffSeeds = []string{
	`null`, `true`, `false`, `0`, `-0`, `-0.0`, `1e21`, `1e-7`, `9223372036854775808`, `-9223372036854775809`,
	`[1,2.5,"x",true,null,{}]`, `{"a":{"b":[{"c":"\u00e9\n"}]}}`, `"\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800"`,
	`"\ud83d\ude00"`, `"\u12"`, `"\u12zz"`, `"\q\/\b\f\r\t"`, `"a\\"`, `"a\\\""`, `"\\\"x"`,
	`{"a":1,"a":2}`, "\"\xff\"", "{\"k\xff\":1}", "\"tab\there\x01\"", `{"k\u00e9y": 1}`, `{"a\"b":1}`,
	` {"a" : [ 1 , 2 ] , "b" : { } } `, `[]`, `[ ]`, `{ }`, `[1,]`, `{"a":1,}`, `{,}`, `[,1]`, `{"a"}`, `{"a":}`,
	`{"a" 1}`, `{a:1}`, `nul`, `tru`, `fals`, `nulll`, `truex`, `[truex]`, `NaN`, `nan`, `Infinity`, `-inf`, `inf`,
	`01`, `1.`, `+1`, `.5`, `-`, `1e`, `1e+`, `--1`, `1.5.5`, `0x10`, `1e400`, `-1e400`, `1 2`, `{} x`, `"abc`,
	`[1, 2, 01]`, "\n\t\r 1 \n", "\v1", `"\u0000"`, `{"":""}`, `[[[[[]]]]]`,
	strings.Repeat("[", 300) + strings.Repeat("]", 300), strings.Repeat("[", 301) + strings.Repeat("]", 301),
	strings.Repeat("[", 300) + "1" + strings.Repeat("]", 300), strings.Repeat("[", 299) + "1" + strings.Repeat("]", 299),
	strings.Repeat(`{"a":`, 300) + "1" + strings.Repeat("}", 300), strings.Repeat(`{"a":`, 299) + "1" + strings.Repeat("}", 299),
	`{"event_type":2,"person":null,"auction":null,"bid":{"auction":1006,"bidder":2001,"price":857606,"channel":"channel-2140","url":"https://www.nexmark.com/hopc/waky/h_w/item.htm?query=1&channel_id=974127104","dateTime":"2025-01-01 00:00:00.000","extra":"ZMwm\\]^_"}}`,
}

// TestDecodeSameAsFastjson: the one-pass decoder accepts exactly what the
// fastjson-based one did, with the same values: on tricky inputs and on
// many random mutations of them.
func TestDecodeSameAsFastjson(t *testing.T) {
	var d Decoder
	for _, s := range diffSeeds {
		sameDecode(t, &d, []byte(s))
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	const alphabet = "{}[],:\"\\ 0123456789.-+eEtrufalsn\x00\xff\xc3\xa9ud8cDF\t\n"
	for range 5000 {
		b := []byte(diffSeeds[rnd.IntN(len(diffSeeds))])
		for range 1 + rnd.IntN(4) {
			switch op := rnd.IntN(3); {
			case op == 0 && len(b) > 0: // replace
				b[rnd.IntN(len(b))] = alphabet[rnd.IntN(len(alphabet))]
			case op == 1: // insert
				i := rnd.IntN(len(b) + 1)
				b = append(b[:i], append([]byte{alphabet[rnd.IntN(len(alphabet))]}, b[i:]...)...)
			case len(b) > 0: // delete
				i := rnd.IntN(len(b))
				b = append(b[:i], b[i+1:]...)
			}
		}
		sameDecode(t, &d, b)
	}
}

// FuzzDecodeSameAsFastjson is TestDecodeSameAsFastjson's check on fuzzed
// input.
//
//	go test -run '^$' -fuzz FuzzDecodeSameAsFastjson -fuzztime 60s ./format/json/
func FuzzDecodeSameAsFastjson(f *testing.F) {
	for _, s := range diffSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		sameDecode(t, &d, b)
	})
}
