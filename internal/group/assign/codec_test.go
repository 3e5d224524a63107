package assign

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleMetadata() Metadata {
	return Metadata{
		Fingerprint: "sha256:9f2c41aa0b",
		Parallelism: 6,
		Epoch:       3,
		Owned:       []OwnedTask{{Task: "counts-1", LeaseGeneration: 5}, {Task: "source:events-4", LeaseGeneration: 1 << 40}},
		Local:       []LocalCopy{{Task: "counts-1", Checkpoint: 412}, {Task: "counts-3", Checkpoint: 7}},
		Capacity:    2,
		Rack:        "eu-west-1a",
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	for _, md := range []Metadata{{}, sampleMetadata(), {Fingerprint: "x", Parallelism: 1, Epoch: 1, Capacity: 1}} {
		b := EncodeMetadata(md)
		got, err := DecodeMetadata(b)
		if err != nil {
			t.Fatalf("decode %+v: %v", md, err)
		}
		if !reflect.DeepEqual(got, md) {
			t.Fatalf("round trip: got %+v, want %+v", got, md)
		}
	}
	// §3.1 budgets about 100 B + 12 B per entry.
	md := sampleMetadata()
	if n := len(EncodeMetadata(md)); n > 100+12*(len(md.Owned)+len(md.Local)) {
		t.Fatalf("encoded metadata is %d bytes, more than §3.1's estimate", n)
	}
}

func TestAssignmentRoundTrip(t *testing.T) {
	for _, a := range []Assignment{
		{},
		{Epoch: 3, Active: []string{"counts-0", "source:events-1"}, Warmup: []string{"maxn-1"}, Standby: []string{"counts-1"}},
		{Epoch: 7, Reason: "config differs from epoch 7: parallelism 4 vs 2"},
	} {
		got, err := DecodeAssignment(EncodeAssignment(a))
		if err != nil {
			t.Fatalf("decode %+v: %v", a, err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Fatalf("round trip: got %+v, want %+v", got, a)
		}
	}
}

func TestDecodeRejectsUnknownVersion(t *testing.T) {
	md := EncodeMetadata(sampleMetadata())
	md[0] = 2
	_, err := DecodeMetadata(md)
	if !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("metadata version 2: got %v, want ErrUnknownVersion", err)
	}
	if want := "member metadata version 2, this build reads version 1"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	as := EncodeAssignment(Assignment{Epoch: 1, Active: []string{"a-0"}})
	as[0] = 0
	_, err = DecodeAssignment(as)
	if !errors.Is(err, ErrUnknownVersion) || !strings.Contains(err.Error(), "assignment version 0") {
		t.Fatalf("assignment version 0: got %v", err)
	}
}

func TestDecodeRejectsCorrupt(t *testing.T) {
	good := EncodeMetadata(sampleMetadata())
	cases := map[string][]byte{
		"empty":      nil,
		"truncated":  good[:len(good)-1],
		"trailing":   append(append([]byte{}, good...), 0),
		"huge count": {Version, 0, 1, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad varint": {Version, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
	}
	for name, b := range cases {
		if _, err := DecodeMetadata(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
	ga := EncodeAssignment(Assignment{Epoch: 2, Active: []string{"a-0"}, Reason: "r"})
	if _, err := DecodeAssignment(ga[:len(ga)-1]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated assignment: got %v, want ErrCorrupt", err)
	}
	if _, err := DecodeAssignment([]byte{Version, 1, 5, 1, 'a'}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "active") {
		t.Errorf("assignment with 5 active tasks in 2 bytes: got %v, want ErrCorrupt naming active", err)
	}
}

// FuzzMetadata checks that whatever decodes re-encodes to bytes that
// decode to the same value, and that nothing panics.
func FuzzMetadata(f *testing.F) {
	f.Add(EncodeMetadata(sampleMetadata()))
	f.Add(EncodeMetadata(Metadata{}))
	f.Add([]byte{Version})
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := DecodeMetadata(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("error without identity: %v", err)
			}
			return
		}
		again, err := DecodeMetadata(EncodeMetadata(md))
		if err != nil || !reflect.DeepEqual(again, md) {
			t.Fatalf("re-encode of %+v: got %+v, %v", md, again, err)
		}
	})
}

// FuzzAssignment is FuzzMetadata for assignments.
func FuzzAssignment(f *testing.F) {
	f.Add(EncodeAssignment(Assignment{Epoch: 3, Active: []string{"counts-0"}, Warmup: []string{"x"}, Standby: []string{"y"}, Reason: "r"}))
	f.Add(EncodeAssignment(Assignment{}))
	f.Add([]byte{Version, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAssignment(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("error without identity: %v", err)
			}
			return
		}
		again, err := DecodeAssignment(EncodeAssignment(a))
		if err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("re-encode of %+v: got %+v, %v", a, again, err)
		}
	})
}
