package checkpoint

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tidemark/tidemark/operators"
)

// The in-flight file (chk-<n>/keyed-<i>/in-flight.json) of an unaligned
// checkpoint holds what reached a task after its snapshot but before the
// barrier, in arrival order: batches of records and batches of dead
// letters. Version 2 is an object:
//
//	{"format": "tidemark-in-flight", "version": 2, "elements": [
//	  {"records": [<record>, ...]},
//	  {"dead_letters": [{"record": <record>, "operator": "parse", "reason": "..."}]}
//	]}
//
// Version 1, written before dead letters were kept, is a bare JSON array of
// records; it is still read. A record is encoded as before:
// {"Key": base64, "Value": base64, "Headers": [...], "Timestamp": ms,
// "Topic": ..., "Partition": ..., "Offset": ...}.
const (
	inFlightFormat  = "tidemark-in-flight"
	inFlightVersion = 2
	inFlightName    = "in-flight.json"
)

type inFlightFile struct {
	Format   string            `json:"format"`
	Version  int               `json:"version"`
	Elements []inFlightElement `json:"elements"`
}

type inFlightElement struct {
	Records     []operators.Record `json:"records,omitempty"`
	DeadLetters []inFlightDead     `json:"dead_letters,omitempty"`
}

type inFlightDead struct {
	Record   operators.Record `json:"record"`
	Operator string           `json:"operator"`
	Reason   string           `json:"reason"`
}

// encodeInFlight serialises a task's in-flight elements (version 2).
func encodeInFlight(elems []operators.InFlight) ([]byte, error) {
	f := inFlightFile{Format: inFlightFormat, Version: inFlightVersion, Elements: make([]inFlightElement, 0, len(elems))}
	for _, e := range elems {
		var fe inFlightElement
		fe.Records = e.Records
		for _, d := range e.DeadLetters {
			fe.DeadLetters = append(fe.DeadLetters, inFlightDead{Record: d.Record, Operator: d.Operator, Reason: d.Reason})
		}
		f.Elements = append(f.Elements, fe)
	}
	data, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encode in-flight data: %w", err)
	}
	return data, nil
}

// decodeInFlight parses an in-flight file of either version.
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
	if f.Version != inFlightVersion {
		return nil, fmt.Errorf("%w: in-flight data version %d, this build reads versions 1 and %d", ErrUnknownVersion, f.Version, inFlightVersion)
	}
	out := make([]operators.InFlight, 0, len(f.Elements))
	for i, fe := range f.Elements {
		if (len(fe.Records) > 0) == (len(fe.DeadLetters) > 0) {
			return nil, fmt.Errorf("%w: in-flight element %d holds %d records and %d dead letters, want exactly one kind", ErrCorrupt, i, len(fe.Records), len(fe.DeadLetters))
		}
		e := operators.InFlight{Records: fe.Records}
		for _, d := range fe.DeadLetters {
			e.DeadLetters = append(e.DeadLetters, operators.DeadLetter{Record: d.Record, Operator: d.Operator, Reason: d.Reason})
		}
		out = append(out, e)
	}
	return out, nil
}
