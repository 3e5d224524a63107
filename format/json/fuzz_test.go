package json_test

import (
	"bytes"
	stdjson "encoding/json"
	"reflect"
	"regexp"
	"strconv"
	"testing"

	"github.com/tidemark/tidemark/format/json"
)

// FuzzRoundTrip checks, for any input, that what Decode accepts encodes,
// decodes back to an equal value (types included: ints stay int64, floats
// float64) and encodes to the same text again; and that Decode accepts
// everything encoding/json accepts, with the same values.
//
//	go test -run '^$' -fuzz FuzzRoundTrip -fuzztime 60s ./format/json/
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{
		string(bidJSON), `null`, `0`, `-0.0`, `1e21`, `1e-7`, `[1,2.5,"x",true,null,{}]`,
		`{"a":{"b":[{"c":"\u00e9\n"}]}}`, `9223372036854775808`, `"\ud800"`, `{"a":1,"a":2}`, "\"\xff\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d json.Decoder
		v, err := d.Decode(b)
		var std any
		dec := stdjson.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		stdErr := dec.Decode(&std)
		if stdErr == nil && dec.More() {
			stdErr = errTrailing
		}
		if stdErr == nil && !stdjson.Valid(b) {
			stdErr = errTrailing // the Decoder stops after one value
		}
		if stdErr == nil {
			if err != nil {
				t.Fatalf("encoding/json accepts %q, Decode refuses it: %v", b, err)
			}
			// Unpaired surrogate escapes are kept as written (package doc),
			// where encoding/json makes them U+FFFD.
			if !sameValue(v, std) && !loneSurrogate.Match(b) {
				t.Fatalf("%q: Decode = %#v, encoding/json = %#v", b, v, std)
			}
		}
		if err != nil {
			return
		}
		enc, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%q decodes to %#v, which does not encode: %v", b, v, err)
		}
		if !stdjson.Valid(enc) {
			t.Fatalf("%q encodes to invalid JSON %q", b, enc)
		}
		back, err := d.Decode(enc)
		if err != nil {
			t.Fatalf("encoded %q does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(back, v) {
			t.Fatalf("round trip of %q: %#v became %#v (via %s)", b, v, back, enc)
		}
		again, err := json.Marshal(back)
		if err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("second encoding of %q: %s, %v; first was %s", b, again, err, enc)
		}
	})
}

var loneSurrogate = regexp.MustCompile(`(?i)\\u[d][89a-f]`)

type trailingError struct{}

func (trailingError) Error() string { return "trailing data" }

var errTrailing = trailingError{}

// sameValue compares a decoded value with encoding/json's (UseNumber).
func sameValue(ours, std any) bool {
	switch s := std.(type) {
	case stdjson.Number:
		switch o := ours.(type) {
		case int64:
			n, err := strconv.ParseInt(string(s), 10, 64)
			return err == nil && n == o
		case float64:
			f, err := strconv.ParseFloat(string(s), 64)
			return err == nil && f == o
		}
		return false
	case map[string]any:
		o, ok := ours.(map[string]any)
		if !ok || len(o) != len(s) {
			return false
		}
		for k, sv := range s {
			ov, ok := o[k]
			if !ok || !sameValue(ov, sv) {
				return false
			}
		}
		return true
	case []any:
		o, ok := ours.([]any)
		if !ok || len(o) != len(s) {
			return false
		}
		for i := range s {
			if !sameValue(o[i], s[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(ours, std)
}
