package checkpoint

import (
	"bytes"
	"encoding/json"
	"fmt"

	formatjson "github.com/tidemark/tidemark/format/json"
	"github.com/tidemark/tidemark/operators"
)

// The in-flight file (chk-<n>/<task>/in-flight.json) of an unaligned
// checkpoint holds what reached a task after its snapshot but before the
// barrier, in arrival order: batches of records, each for an input port
// of an operator of the task, and batches of dead letters. Version 4 is an
// object:
//
//	{"format": "tidemark-in-flight", "version": 4, "elements": [
//	  {"node": "hot", "port": 1, "records": [<record>, ...]},
//	  {"dead_letters": [{"record": <record>, "operator": "parse", "reason": "..."}]}
//	]}
//
// "port" is left out when 0. Version 3 has no "node" and "port": its
// records go to the operator the task's first input feeds (a legacy job's
// keyed chain).
//
// A record is {"Key": base64, "Value": base64, "Headers": [...],
// "Timestamp": ms, "Kind": 0-3, "WindowStart": ms, "WindowEnd": ms,
// "Data": <the decoded value as JSON>, "Topic": ..., "Partition": ...,
// "Offset": ...}; Kind, WindowStart, WindowEnd, Data, Topic, Partition and
// Offset are left out when zero. Data is written by format/json and read
// back by its decoder, so integers stay int64 and floats float64.
//
// Version 2 has the same shape as version 3 without Kind, the window and Data (its
// records are inserts with no window, never decoded). Version 1, written
// before dead letters were kept, is a bare JSON array of records. Both are
// still read.
const (
	inFlightFormat  = "tidemark-in-flight"
	inFlightVersion = 4
	inFlightName    = "in-flight.json"
)

type inFlightFile struct {
	Format   string            `json:"format"`
	Version  int               `json:"version"`
	Elements []inFlightElement `json:"elements"`
}

type inFlightElement struct {
	Node        string           `json:"node,omitempty"`
	Port        int              `json:"port,omitempty"`
	Records     []inFlightRecord `json:"records,omitempty"`
	DeadLetters []inFlightDead   `json:"dead_letters,omitempty"`
}

type inFlightDead struct {
	Record   inFlightRecord `json:"record"`
	Operator string         `json:"operator"`
	Reason   string         `json:"reason"`
}

// inFlightRecord is operators.Record as the in-flight file stores it.
type inFlightRecord struct {
	Key, Value  []byte
	Headers     []operators.Header
	Timestamp   int64
	Kind        operators.Kind  `json:",omitempty"`
	WindowStart int64           `json:",omitempty"`
	WindowEnd   int64           `json:",omitempty"`
	Data        json.RawMessage `json:",omitempty"`
	Topic       string          `json:",omitempty"`
	Partition   int32           `json:",omitempty"`
	Offset      int64           `json:",omitempty"`
}

func toFile(r operators.Record) (inFlightRecord, error) {
	fr := inFlightRecord{
		Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp, Kind: r.Kind,
		WindowStart: r.WindowStart, WindowEnd: r.WindowEnd, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
	}
	if r.Data != nil {
		data, err := formatjson.Marshal(r.Data)
		if err != nil {
			return fr, fmt.Errorf("record of %s: decoded value: %w", recordSource(r), err)
		}
		fr.Data = data
	}
	return fr, nil
}

func (fr inFlightRecord) record(d *formatjson.Decoder) (operators.Record, error) {
	r := operators.Record{
		Key: fr.Key, Value: fr.Value, Headers: fr.Headers, Timestamp: fr.Timestamp, Kind: fr.Kind,
		WindowStart: fr.WindowStart, WindowEnd: fr.WindowEnd, Topic: fr.Topic, Partition: fr.Partition, Offset: fr.Offset,
	}
	if fr.Kind < operators.Insert || fr.Kind > operators.Delete {
		return r, fmt.Errorf("%w: in-flight record of %s has kind %d", ErrCorrupt, recordSource(r), fr.Kind)
	}
	if len(fr.Data) > 0 {
		v, err := d.Decode(fr.Data)
		if err != nil {
			return r, fmt.Errorf("%w: in-flight record of %s: Data: %v", ErrCorrupt, recordSource(r), err)
		}
		r.Data = v
	}
	return r, nil
}

func recordSource(r operators.Record) string {
	if r.Topic == "" {
		return "an operator"
	}
	return fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)
}

// encodeInFlight serialises a task's in-flight elements (version 4).
func encodeInFlight(elems []operators.InFlight) ([]byte, error) {
	f := inFlightFile{Format: inFlightFormat, Version: inFlightVersion, Elements: make([]inFlightElement, 0, len(elems))}
	for _, e := range elems {
		fe := inFlightElement{Node: e.Node, Port: e.Port}
		for _, r := range e.Records {
			fr, err := toFile(r)
			if err != nil {
				return nil, fmt.Errorf("checkpoint: encode in-flight data: %w", err)
			}
			fe.Records = append(fe.Records, fr)
		}
		for _, d := range e.DeadLetters {
			fr, err := toFile(d.Record)
			if err != nil {
				return nil, fmt.Errorf("checkpoint: encode in-flight data: %w", err)
			}
			fe.DeadLetters = append(fe.DeadLetters, inFlightDead{Record: fr, Operator: d.Operator, Reason: d.Reason})
		}
		f.Elements = append(f.Elements, fe)
	}
	data, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encode in-flight data: %w", err)
	}
	return data, nil
}

// decodeInFlight parses an in-flight file of any version this build reads
// (1 to 4).
func decodeInFlight(data []byte) ([]operators.InFlight, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		// Version 1: records only.
		var recs []operators.Record
		if err := json.Unmarshal(data, &recs); err != nil {
			return nil, fmt.Errorf("%w: in-flight records: %v", ErrCorrupt, err)
		}
		if len(recs) == 0 {
			return nil, nil
		}
		return []operators.InFlight{{Records: recs}}, nil
	}
	var f inFlightFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: in-flight data: %v", ErrCorrupt, err)
	}
	if f.Format != inFlightFormat {
		return nil, fmt.Errorf("%w: in-flight data has format %q, want %q", ErrCorrupt, f.Format, inFlightFormat)
	}
	if f.Version < 2 || f.Version > inFlightVersion {
		return nil, fmt.Errorf("%w: in-flight data version %d, this build reads versions 1 to %d", ErrUnknownVersion, f.Version, inFlightVersion)
	}
	var d formatjson.Decoder
	out := make([]operators.InFlight, 0, len(f.Elements))
	for i, fe := range f.Elements {
		if (len(fe.Records) > 0) == (len(fe.DeadLetters) > 0) {
			return nil, fmt.Errorf("%w: in-flight element %d holds %d records and %d dead letters, want exactly one kind", ErrCorrupt, i, len(fe.Records), len(fe.DeadLetters))
		}
		if f.Version < 4 && (fe.Node != "" || fe.Port != 0) {
			return nil, fmt.Errorf("%w: in-flight data version %d with an element of version 4 (node, port)", ErrCorrupt, f.Version)
		}
		if len(fe.DeadLetters) > 0 && (fe.Node != "" || fe.Port != 0) {
			return nil, fmt.Errorf("%w: in-flight element %d holds dead letters with a target operator", ErrCorrupt, i)
		}
		e := operators.InFlight{Node: fe.Node, Port: fe.Port}
		for _, fr := range fe.Records {
			if f.Version == 2 && fr.v3() {
				return nil, fmt.Errorf("%w: in-flight data version 2 with a record of version 3 (Kind, window or Data)", ErrCorrupt)
			}
			r, err := fr.record(&d)
			if err != nil {
				return nil, err
			}
			e.Records = append(e.Records, r)
		}
		for _, fd := range fe.DeadLetters {
			if f.Version == 2 && fd.Record.v3() {
				return nil, fmt.Errorf("%w: in-flight data version 2 with a dead letter of version 3 (Kind, window or Data)", ErrCorrupt)
			}
			r, err := fd.Record.record(&d)
			if err != nil {
				return nil, err
			}
			e.DeadLetters = append(e.DeadLetters, operators.DeadLetter{Record: r, Operator: fd.Operator, Reason: fd.Reason})
		}
		out = append(out, e)
	}
	return out, nil
}

// v3 reports whether fr has a field version 2 does not know.
func (fr inFlightRecord) v3() bool {
	return fr.Kind != 0 || fr.WindowStart != 0 || fr.WindowEnd != 0 || len(fr.Data) > 0
}
