package json

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// Raw is a JSON object or array kept as its text and decoded on demand:
// what Decoder.Lazy returns for a record's value when the job only reads
// a few of its fields (see the package doc, "Lazy values"). Its text is
// valid (Lazy checked it with the grammar Decode accepts), so reading it
// cannot fail. The zero Raw is not a value: only this package makes them.
//
// A Raw stands for exactly the value Decode would have returned for its
// text: Member reads a field as Decode's map would give it, Decode
// returns that map (or list), and AppendValue writes the same text as for
// the decoded value.
type Raw struct {
	// v is the value; a Raw is one pointer, so that an interface holds
	// it without an allocation of its own.
	v *rawValue
}

// rawValue is a Raw's value.
type rawValue struct {
	text []byte // one object or array, no surrounding whitespace
	// ix indexes the members of the objects of the value Lazy read
	// (nil: none, Member scans text); an object's members are
	// ix.fields[sub : sub+n].
	ix     *rawIndex
	sub, n int32
}

// rawIndex is where the members of a lazy value's objects are (those not
// inside an array): one pass of Lazy finds them all, so that reading a
// field never scans the text again. It is one allocation for a value of
// up to len(inlineFields) members in up to len(inlineObjs) objects.
type rawIndex struct {
	fields []field
	// objs are the indexed objects, the whole value among them.
	objs         []rawValue
	base         []byte // the text offsets are in
	inlineFields [12]field
	inlineObjs   [3]rawValue
}

// field is one member of an indexed object: its key's raw text
// base[key0:key1] (without quotes), its value's text base[val0:val1],
// and, for an object value, that object, objs[obj] (-1: no object).
type field struct {
	key0, key1, val0, val1 uint32
	obj                    int32
	// plainKey: the key's text is the key (ASCII, no escapes).
	plainKey bool
}

// indexer collects the fields of the objects validate reads.
type indexer struct {
	base  []byte
	stack []field // the members of the objects being read
	out   []field
	objs  []rawValue
	// lastObj is the object validate read last (its index in objs).
	lastObj int32
}

// Lazy checks that b is JSON Decode accepts, with the same error Decode
// would return (wrapping ErrSyntax) if not, and returns its value without
// building it: an object or an array as a Raw over b's bytes (b must then
// stay unchanged while the Raw is used), any other value decoded (string,
// int64, float64, bool or nil, as Decode gives them). It allocates
// nothing but the Raw (or the decoded scalar).
func (d *Decoder) Lazy(b []byte) (any, error) {
	s := skipWS(b)
	if len(s) == 0 || (s[0] != '{' && s[0] != '[') {
		return d.Decode(b)
	}
	x := &d.ix
	x.base, x.stack, x.out, x.objs = s, x.stack[:0], x.out[:0], x.objs[:0]
	if s[0] == '[' || len(s) > maxIndexed {
		x = nil // only an object's fields are read by name
	}
	rest, ok := validate(s, 1, x)
	if x != nil {
		defer x.reset()
	}
	if ok && len(skipWS(rest)) == 0 {
		text := s[:len(s)-len(rest)]
		if x == nil {
			return Raw{&rawValue{text: text}}, nil
		}
		ix := &rawIndex{base: text}
		ix.fields = ix.inlineFields[:0]
		if len(x.out) > len(ix.inlineFields) {
			ix.fields = make([]field, 0, len(x.out))
		}
		ix.fields = append(ix.fields, x.out...)
		ix.objs = ix.inlineObjs[:0]
		if len(x.objs) > len(ix.inlineObjs) {
			ix.objs = make([]rawValue, 0, len(x.objs))
		}
		ix.objs = append(ix.objs, x.objs...)
		for i := range ix.objs {
			ix.objs[i].ix = ix
		}
		return Raw{&ix.objs[x.lastObj]}, nil
	}
	// Invalid: Decode says why, with its message and offset.
	if _, err := d.Decode(b); err != nil {
		return nil, err
	}
	// Unreachable while validate accepts what Decode accepts (FuzzLazy).
	return nil, fmt.Errorf("%w: value refused by the lazy validator", ErrSyntax)
}

// maxIndexed bounds the text Lazy indexes (offsets are uint32).
const maxIndexed = 1 << 31

// validate checks the value at the start of s (whitespace skipped) with
// Decode's grammar and limits, and returns what follows it. With an
// indexer x it collects the members of the objects it reads (not those
// inside arrays).
func validate(s []byte, depth int, x *indexer) ([]byte, bool) {
	if len(s) == 0 || depth > maxDecodeDepth {
		return s, false
	}
	switch c := s[0]; {
	case c == '{':
		open := s
		s = skipWS(s[1:])
		base := 0
		if x != nil {
			base = len(x.stack)
		}
		if len(s) > 0 && s[0] == '}' {
			if x != nil {
				x.object(open, s[1:], base)
			}
			return s[1:], true
		}
		for {
			if len(s) == 0 || s[0] != '"' {
				return s, false
			}
			k, rest, ok := rawString(s[1:])
			if !ok {
				return s, false
			}
			s = skipWS(rest)
			if len(s) == 0 || s[0] != ':' {
				return s, false
			}
			v := skipWS(s[1:])
			if s, ok = validate(v, depth+1, x); !ok {
				return s, false
			}
			if x != nil {
				f := field{key0: x.off(k), key1: x.off(k) + uint32(len(k)), val0: x.off(v), val1: x.off(s), obj: -1,
					plainKey: isASCII(k) && bytes.IndexByte(k, '\\') < 0}
				if v[0] == '{' {
					f.obj = x.lastObj
				}
				x.stack = append(x.stack, f)
			}
			s = skipWS(s)
			if len(s) > 0 && s[0] == ',' {
				s = skipWS(s[1:])
				continue
			}
			if len(s) > 0 && s[0] == '}' {
				if x != nil {
					x.object(open, s[1:], base)
				}
				return s[1:], true
			}
			return s, false
		}
	case c == '[':
		s = skipWS(s[1:])
		if len(s) > 0 && s[0] == ']' {
			return s[1:], true
		}
		for {
			var ok bool
			if s, ok = validate(skipWS(s), depth+1, nil); !ok {
				return s, false
			}
			s = skipWS(s)
			if len(s) > 0 && s[0] == ',' {
				s = s[1:]
				continue
			}
			if len(s) > 0 && s[0] == ']' {
				return s[1:], true
			}
			return s, false
		}
	case c == '"':
		_, rest, ok := rawString(s[1:])
		return rest, ok
	case c == 't':
		if len(s) >= 4 && string(s[:4]) == "true" {
			return s[4:], true
		}
	case c == 'f':
		if len(s) >= 5 && string(s[:5]) == "false" {
			return s[5:], true
		}
	case c == 'n':
		if len(s) >= 4 && string(s[:4]) == "null" {
			return s[4:], true
		}
	default:
		i := numberLen(s)
		if i == 0 {
			return s, false
		}
		integral, ok := validNumber(s[:i])
		if !ok {
			return s, false
		}
		if !integral || i > 18 {
			// Floats and long integers: range checked as Decode does.
			if _, err := number(s[:i]); err != nil {
				return s, false
			}
		}
		return s[i:], true
	}
	return s, false
}

// object records the object whose text starts at open and ends before
// rest, with the members x.stack[base:]: they move to x.out, it becomes
// x.lastObj.
func (x *indexer) object(open, rest []byte, base int) {
	sub := int32(len(x.out))
	x.out = append(x.out, x.stack[base:]...)
	x.stack = x.stack[:base]
	x.lastObj = int32(len(x.objs))
	x.objs = append(x.objs, rawValue{text: open[:len(open)-len(rest)], sub: sub, n: int32(len(x.out)) - sub})
}

// reset drops x's references to the text it indexed.
func (x *indexer) reset() {
	x.base = nil
	clear(x.objs)
	x.objs = x.objs[:0]
}

// off is the offset of t, a tail or part of x.base, in x.base.
func (x *indexer) off(t []byte) uint32 {
	if len(t) == 0 {
		return uint32(len(x.base))
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(t))) - uintptr(unsafe.Pointer(unsafe.SliceData(x.base))))
}

// numberLen is the length of the run of number characters at s's start
// (the decoder's scan; validNumber then checks the grammar).
func numberLen(s []byte) int {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == '-' || s[i] == 'e' || s[i] == 'E' || s[i] == '+') {
		i++
	}
	return i
}

// skipValid returns the length of the value at the start of s, which is
// valid JSON text (a Raw's).
func skipValid(s []byte) int {
	switch s[0] {
	case '"':
		raw, _, _ := rawString(s[1:])
		return len(raw) + 2
	case '{', '[':
		depth := 0
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '"':
				raw, _, _ := rawString(s[i+1:])
				i += len(raw) + 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(s)
	case 't', 'n':
		return 4
	case 'f':
		return 5
	}
	return numberLen(s)
}

// IsObject reports whether r is an object (else it is an array).
func (r Raw) IsObject() bool {
	return r.v != nil && (r.v.ix != nil || len(r.v.text) > 0 && r.v.text[0] == '{')
}

// Text returns r's JSON text (as it was read: not necessarily the text
// AppendValue writes). The caller must not modify it.
func (r Raw) Text() []byte {
	if r.v == nil {
		return nil
	}
	return r.v.text
}

// Member returns the field name of object r as Decode's map would hold
// it: nil when absent, objects and arrays as Raw, other values decoded
// (a repeated name: the last one, as Decode keeps it). ok is false when r
// is not an object.
func (r Raw) Member(name string) (v any, ok bool) {
	rv := r.v
	if rv == nil {
		return nil, false
	}
	if rv.ix == nil {
		if !r.IsObject() {
			return nil, false
		}
		val, found := member(rv.text, name)
		if !found {
			return nil, true
		}
		return scalarOrRaw(val), true
	}
	ix := rv.ix
	fs := ix.fields[rv.sub : rv.sub+rv.n]
	for i := len(fs) - 1; i >= 0; i-- { // the last of a repeated name
		f := &fs[i]
		if f.plainKey {
			// Lengths first: most keys differ in length, and the text
			// is colder than the index.
			if int(f.key1-f.key0) != len(name) || string(ix.base[f.key0:f.key1]) != name {
				continue
			}
		} else if !keyIs(ix.base[f.key0:f.key1], name) {
			continue
		}
		if f.obj >= 0 {
			return Raw{&ix.objs[f.obj]}, true
		}
		return scalarOrRaw(ix.base[f.val0:f.val1]), true
	}
	return nil, true
}

// member finds the text of the last field name of the object text.
func member(text []byte, name string) (val []byte, found bool) {
	s := skipWS(text[1:])
	for len(s) > 0 && s[0] == '"' {
		k, rest, _ := rawString(s[1:])
		s = skipWS(rest)
		s = skipWS(s[1:]) // ':'
		n := skipValid(s)
		if keyIs(k, name) {
			val, found = s[:n], true
		}
		s = skipWS(s[n:])
		if len(s) > 0 && s[0] == ',' {
			s = skipWS(s[1:])
		}
	}
	return val, found
}

// keyIs reports whether the raw key text k decodes to name.
func keyIs(k []byte, name string) bool {
	plain := bytes.IndexByte(k, '\\') < 0
	if plain && string(k) == name {
		// Equal bytes: equal keys unless k is invalid UTF-8 (Decode
		// replaces those bytes).
		return utf8.ValidString(name)
	}
	if plain && isASCII(k) {
		return false
	}
	return decodeKey(k) == name
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

var decoders = sync.Pool{New: func() any { return new(Decoder) }}

// decodeKey is the key (or string) Decode makes of the raw text k of a
// string that holds a backslash or non-ASCII bytes.
func decodeKey(k []byte) string {
	b := k
	if bytes.IndexByte(k, '\\') >= 0 {
		var buf [128]byte
		b = appendUnescaped(buf[:0], k)
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return replaceInvalid(b)
}

// scalarOrRaw is the value of the valid JSON text t: objects and arrays
// as Raw, the rest decoded as Decode does.
func scalarOrRaw(t []byte) any {
	switch c := t[0]; c {
	case '{', '[':
		return Raw{&rawValue{text: t}}
	case '"':
		raw := t[1 : len(t)-1]
		if bytes.IndexByte(raw, '\\') < 0 {
			if len(raw) == 0 {
				return ""
			}
			if utf8.Valid(raw) {
				return string(raw)
			}
			return replaceInvalid(raw)
		}
		return decodeKey(raw) // the same unescaping and replacement
	case 't':
		return true
	case 'f':
		return false
	case 'n':
		return nil
	}
	v, err := number(t)
	if err != nil {
		return nil // cannot happen: t was validated
	}
	return v
}

// Decode returns the value r stands for, as Decode returns it for r's
// text (maps and lists the caller owns).
func (r Raw) Decode() (any, error) {
	if r.v == nil {
		return nil, fmt.Errorf("%w: the zero json.Raw", ErrSyntax)
	}
	d := decoders.Get().(*Decoder)
	v, err := d.Decode(r.v.text)
	decoders.Put(d)
	if err != nil {
		return nil, fmt.Errorf("json: lazy value: %w", err)
	}
	return v, nil
}

// Materialize returns v with a Raw decoded (map[string]any or []any,
// exactly what Decode gives for its text); any other v as it is. It is
// the one way to turn a lazy value into the values operators work with.
func Materialize(v any) (any, error) {
	if r, ok := v.(Raw); ok {
		return r.Decode()
	}
	return v, nil
}

// appendRaw writes r as AppendValue writes the value it stands for: its
// text as it is when that is already that text (canonical: no
// whitespace, objects' keys sorted and unique, strings and numbers as
// the encoder writes them, and no field order asked for), else by
// decoding it and encoding the value.
func appendRaw(dst []byte, r Raw, order []string, depth int) ([]byte, error) {
	if len(order) == 0 && r.v != nil {
		if _, ok := canonical(r.v.text); ok {
			return append(dst, r.v.text...), nil
		}
	}
	v, err := r.Decode()
	if err != nil {
		return dst, fmt.Errorf("%w: %v", ErrUnsupportedValue, err)
	}
	return appendValue(dst, v, order, depth)
}

// canonical reports whether the valid JSON text at the start of s is
// exactly what the encoder writes for its decoded value, and returns its
// length.
func canonical(s []byte) (int, bool) {
	switch c := s[0]; {
	case c == '{':
		i := 1
		var prev []byte
		for first := true; ; first = false {
			if s[i] == '}' {
				return i + 1, true
			}
			if !first {
				if s[i] != ',' {
					return 0, false
				}
				i++
			}
			if s[i] != '"' {
				return 0, false
			}
			k, _, _ := rawString(s[i+1:])
			if !plainString(k) || (!first && bytes.Compare(prev, k) >= 0) {
				return 0, false
			}
			prev = k
			i += len(k) + 2
			if s[i] != ':' {
				return 0, false
			}
			i++
			n, ok := canonical(s[i:])
			if !ok {
				return 0, false
			}
			i += n
		}
	case c == '[':
		i := 1
		for first := true; ; first = false {
			if s[i] == ']' {
				return i + 1, true
			}
			if !first {
				if s[i] != ',' {
					return 0, false
				}
				i++
			}
			n, ok := canonical(s[i:])
			if !ok {
				return 0, false
			}
			i += n
		}
	case c == '"':
		k, _, _ := rawString(s[1:])
		return len(k) + 2, plainString(k)
	case c == 't' || c == 'n':
		return 4, true
	case c == 'f':
		return 5, true
	case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		return 0, false
	}
	n := numberLen(s)
	t := s[:n]
	integral, _ := validNumber(t)
	if integral {
		_, fits := parseInt(t)
		return n, fits && string(t) != "-0"
	}
	f, err := strconv.ParseFloat(string(t), 64)
	if err != nil {
		return 0, false
	}
	var buf [40]byte
	out, err := AppendFloat(buf[:0], f, 64)
	return n, err == nil && bytes.Equal(out, t)
}

// plainString reports whether a string's raw text is written back as it
// is: no escapes, no control characters, valid UTF-8 without U+2028 and
// U+2029 (AppendString escapes those).
func plainString(k []byte) bool {
	for i := 0; i < len(k); {
		c := k[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '\\' || c == '"' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(k[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}
