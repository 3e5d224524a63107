// Package json decodes record values once at the source and encodes them
// once at the sink (design §2.3): JSON travels through a job as Go values,
// never as text.
//
// # Values
//
// Decoder.Decode turns JSON into the values every operator and expression
// works with: objects become map[string]any, arrays []any, strings string,
// true/false bool, null nil, and numbers int64 when they are integral
// (no fraction, no exponent) and fit, float64 otherwise (1.0 and 1e3 are
// floats). A Decoder parses in one pass straight into these values, so
// decoding allocates only what it returns; one Decoder belongs to one
// goroutine.
//
// The decoder accepts a little more than strict JSON: control characters
// in strings, unknown escapes and unpaired UTF-16 surrogate escapes
// (\ud800; kept as written, where encoding/json writes U+FFFD). It refuses NaN,
// Infinity, numbers strict JSON refuses (01, 1., +1, .5) and numbers out
// of float64's range. Invalid UTF-8 in strings becomes U+FFFD, as
// encoding/json does. Duplicate keys: the last one wins.
//
// # Lazy values
//
// Decoder.Lazy checks a value with the grammar and limits Decode has
// (the same errors) but does not build it: an object or array comes back
// as a Raw over the text, with an index of the members of its objects
// made in the same pass, and Raw.Member decodes one field when it is
// read (a string, a number, or a nested object as another Raw). A job
// whose source feeds only filters, maps and sinks gets such values
// (internal/runner decides; see source.GraphSource.Lazy), so that a
// record costs what its expressions read, not all of its fields.
//
// A Raw stands for exactly the value Decode returns for its text, and
// nothing a user sees differs: Member gives what the map would hold (the
// last of repeated keys, escapes and invalid UTF-8 as Decode treats
// them), Raw.Decode and Materialize give the map or list itself (the one
// way to turn a Raw into the values other operators work with), and
// AppendValue writes the text of the decoded value (the Raw's own text
// when it already is exactly that: no whitespace, keys sorted, numbers
// and strings as the encoder writes them). FuzzLazy checks all of it
// against Decode.
//
// # Encoding
//
// AppendValue appends the JSON text of a value to a buffer. Output is
// deterministic: an object's fields come in the order given (the order
// the producing operator declares: map fields, aggregate group_by +
// window + aggregates, join select), the fields not named in it after
// them in sorted order, and nested objects sorted. A float always reads
// back as a float: 3.0 is written "3.0", so a decode → encode → decode
// round trip keeps every value and its type. Strings are escaped as
// encoding/json escapes them, without its HTML escaping. NaN and ±Inf
// cannot be written (ErrUnsupportedValue).
//
// Besides the decoded types AppendValue writes every Go integer and float
// type, []byte (base64, as encoding/json), maps with string keys and
// slices of any of these, and Raw; other values (structs, time.Time) go
// through encoding/json.
package json
