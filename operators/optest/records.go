package optest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
)

// ParseRecord reads a record line of a script (see the package doc):
//
//	[+I|-U|+U|-D] [key=K] [ts=T] [window=[S,E)] [header.NAME=V]… [topic=T partition=P offset=O] [raw=V | JSON]
//
// Values with spaces or quotes are Go-quoted ("a b"). The JSON value, the
// rest of the line, becomes Data as the source would decode it; raw=
// gives undecoded Value bytes instead; neither is a null value.
func ParseRecord(line string) (operators.Record, error) {
	var r operators.Record
	rest := strings.TrimSpace(line)
	if len(rest) >= 2 && (len(rest) == 2 || rest[2] == ' ' || rest[2] == '\t') {
		if k, err := operators.ParseKind(rest[:2]); err == nil {
			r.Kind = k
			rest = strings.TrimSpace(rest[2:])
		}
	}
	for rest != "" {
		name, ok := fieldName(rest)
		if !ok {
			break
		}
		val, tail, err := token(rest[len(name)+1:])
		if err != nil {
			return r, fmt.Errorf("%s: %w", name, err)
		}
		rest = strings.TrimSpace(tail)
		switch {
		case name == "key":
			r.Key = []byte(val)
		case name == "ts":
			if r.Timestamp, err = strconv.ParseInt(val, 10, 64); err != nil {
				return r, fmt.Errorf("ts=%s: not an integer (ms)", val)
			}
		case name == "window":
			if r.WindowStart, r.WindowEnd, err = parseWindow(val); err != nil {
				return r, err
			}
		case name == "topic":
			r.Topic = val
		case name == "partition":
			p, err := strconv.ParseInt(val, 10, 32)
			if err != nil {
				return r, fmt.Errorf("partition=%s: not an integer", val)
			}
			r.Partition = int32(p)
		case name == "offset":
			if r.Offset, err = strconv.ParseInt(val, 10, 64); err != nil {
				return r, fmt.Errorf("offset=%s: not an integer", val)
			}
		case name == "raw":
			r.Value = []byte(val)
		default: // header.NAME
			r.Headers = append(r.Headers, operators.Header{Key: strings.TrimPrefix(name, "header."), Value: []byte(val)})
		}
	}
	if rest != "" {
		if r.Value != nil {
			return r, fmt.Errorf("both raw= and a JSON value (%s)", rest)
		}
		var d json.Decoder
		v, err := d.Decode([]byte(rest))
		if err != nil {
			return r, fmt.Errorf("value %s: %w", rest, err)
		}
		r.Data = v
	}
	return r, nil
}

// fieldName returns the field name s starts with (before '=') if it is
// one a record line knows.
func fieldName(s string) (string, bool) {
	i := strings.IndexByte(s, '=')
	if i <= 0 {
		return "", false
	}
	name := s[:i]
	switch name {
	case "key", "ts", "window", "topic", "partition", "offset", "raw":
		return name, true
	}
	if h, ok := strings.CutPrefix(name, "header."); ok && h != "" && !strings.ContainsAny(h, " \t\"{[") {
		return name, true
	}
	return "", false
}

// token reads a bare word or a Go-quoted string from the start of s.
func token(s string) (val, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", s, fmt.Errorf("bad quoted value %s", s)
		}
		v, _ := strconv.Unquote(q)
		return v, s[len(q):], nil
	}
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, "", nil
	}
	return s[:i], s[i:], nil
}

func parseWindow(s string) (start, end int64, err error) {
	bad := fmt.Errorf("window=%s: want [start,end) in ms", s)
	inner, ok := strings.CutPrefix(s, "[")
	if !ok {
		return 0, 0, bad
	}
	if inner, ok = strings.CutSuffix(inner, ")"); !ok {
		return 0, 0, bad
	}
	a, b, ok := strings.Cut(inner, ",")
	if !ok {
		return 0, 0, bad
	}
	if start, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, bad
	}
	if end, err = strconv.ParseInt(b, 10, 64); err != nil {
		return 0, 0, bad
	}
	if end == 0 {
		return 0, 0, fmt.Errorf("window=%s: a window cannot end at 0 (WindowEnd 0 means no window)", s)
	}
	return start, end, nil
}

// FormatRecord writes r as a record line, the inverse of ParseRecord:
// kind, key (left out when empty), ts, window (when set), headers, source
// position (when set), then the value: Data as JSON with objects' fields
// sorted, raw="…" for undecoded bytes, or null.
func FormatRecord(r operators.Record) string {
	var b strings.Builder
	b.WriteString(r.Kind.String())
	if len(r.Key) > 0 {
		b.WriteString(" key=")
		b.WriteString(quote(string(r.Key)))
	}
	fmt.Fprintf(&b, " ts=%d", r.Timestamp)
	if r.HasWindow() {
		fmt.Fprintf(&b, " window=[%d,%d)", r.WindowStart, r.WindowEnd)
	}
	for _, h := range r.Headers {
		fmt.Fprintf(&b, " header.%s=%s", h.Key, quote(string(h.Value)))
	}
	if r.Topic != "" {
		fmt.Fprintf(&b, " topic=%s partition=%d offset=%d", quote(r.Topic), r.Partition, r.Offset)
	}
	switch {
	case r.Data != nil:
		v, err := json.AppendValue(nil, r.Data, nil)
		if err != nil {
			fmt.Fprintf(&b, " <unencodable value %#v: %v>", r.Data, err)
		} else {
			b.WriteByte(' ')
			b.Write(v)
		}
	case r.Value != nil:
		b.WriteString(" raw=")
		b.WriteString(strconv.Quote(string(r.Value)))
	default:
		b.WriteString(" null")
	}
	return b.String()
}

// quote returns s bare when it reads back as one token, else Go-quoted.
func quote(s string) string {
	if s == "" || strings.HasPrefix(s, `"`) {
		return strconv.Quote(s)
	}
	for _, c := range s {
		if unicode.IsSpace(c) || !unicode.IsPrint(c) {
			return strconv.Quote(s)
		}
	}
	return s
}

// formatOutput writes one output line: a record with its port when not
// the main output, or a dead letter with its reason.
func (h *Harness) formatOutput(o Output) string {
	if o.DeadLetter {
		return "dead-letter reason=" + strconv.Quote(o.Reason) + " " + FormatRecord(o.Record)
	}
	line := FormatRecord(o.Record)
	if o.Port == 0 {
		return line
	}
	port := strconv.Itoa(o.Port)
	if o.Port-1 < len(h.cfg.outputs) {
		port = h.cfg.outputs[o.Port-1]
	}
	return "port=" + port + " " + line
}

// makeLazy replaces r's decoded value with the lazy value of its text
// (LazyValues).
func makeLazy(r *operators.Record) error {
	b, err := json.Marshal(r.Data)
	if err != nil {
		return err
	}
	var d json.Decoder
	r.Data, err = d.Lazy(b)
	return err
}
