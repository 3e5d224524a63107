package assign

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Version is the version of the member metadata and assignment formats
// this package writes and reads: the first byte of each UserData.
const Version = 1

// ErrUnknownVersion is returned (wrapped, with the version found) when a
// UserData was written in a format version this build does not read:
// typically a member of a newer or older release in the same group.
var ErrUnknownVersion = errors.New("assign: unknown user data version")

// ErrCorrupt is returned (wrapped, naming the field) when a UserData of a
// known version does not decode.
var ErrCorrupt = errors.New("assign: corrupt user data")

// EncodeMetadata returns md as member metadata UserData (format version 1):
// the version byte, then as unsigned varints and length-prefixed strings:
// fingerprint, parallelism, epoch, capacity, rack, the owned tasks (count,
// then task and lease generation each) and the local copies (count, then
// task and checkpoint each).
func EncodeMetadata(md Metadata) []byte {
	b := make([]byte, 0, 32+len(md.Fingerprint)+len(md.Rack)+16*(len(md.Owned)+len(md.Local)))
	b = append(b, Version)
	b = appendString(b, md.Fingerprint)
	b = binary.AppendUvarint(b, uint64(max(md.Parallelism, 0)))
	b = binary.AppendUvarint(b, md.Epoch)
	b = binary.AppendUvarint(b, uint64(max(md.Capacity, 0)))
	b = appendString(b, md.Rack)
	b = binary.AppendUvarint(b, uint64(len(md.Owned)))
	for _, o := range md.Owned {
		b = appendString(b, o.Task)
		b = binary.AppendUvarint(b, o.LeaseGeneration)
	}
	b = binary.AppendUvarint(b, uint64(len(md.Local)))
	for _, c := range md.Local {
		b = appendString(b, c.Task)
		b = binary.AppendUvarint(b, c.Checkpoint)
	}
	return b
}

// DecodeMetadata parses member metadata UserData written by
// EncodeMetadata. It fails with ErrUnknownVersion for another format
// version and ErrCorrupt for malformed or trailing bytes.
func DecodeMetadata(data []byte) (Metadata, error) {
	r := reader{what: "member metadata", b: data}
	var md Metadata
	if err := r.version(); err != nil {
		return Metadata{}, err
	}
	md.Fingerprint = r.string("fingerprint")
	md.Parallelism = r.int("parallelism")
	md.Epoch = r.uvarint("epoch")
	md.Capacity = r.int("capacity")
	md.Rack = r.string("rack")
	if n := r.count("owned", 2); n > 0 {
		md.Owned = make([]OwnedTask, n)
		for i := range md.Owned {
			md.Owned[i] = OwnedTask{Task: r.string("owned task"), LeaseGeneration: r.uvarint("lease generation")}
		}
	}
	if n := r.count("local", 2); n > 0 {
		md.Local = make([]LocalCopy, n)
		for i := range md.Local {
			md.Local[i] = LocalCopy{Task: r.string("local task"), Checkpoint: r.uvarint("checkpoint")}
		}
	}
	if err := r.end(); err != nil {
		return Metadata{}, err
	}
	return md, nil
}

// EncodeAssignment returns a as assignment UserData (format version 1):
// the version byte, the epoch as an unsigned varint, the active, warm-up
// and standby task lists (count, then length-prefixed ids) and the reason.
func EncodeAssignment(a Assignment) []byte {
	n := 16 + len(a.Reason)
	for _, l := range [][]string{a.Active, a.Warmup, a.Standby} {
		for _, t := range l {
			n += len(t) + 1
		}
	}
	b := make([]byte, 0, n)
	b = append(b, Version)
	b = binary.AppendUvarint(b, a.Epoch)
	for _, l := range [][]string{a.Active, a.Warmup, a.Standby} {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, t := range l {
			b = appendString(b, t)
		}
	}
	return appendString(b, a.Reason)
}

// DecodeAssignment parses assignment UserData written by EncodeAssignment.
// It fails with ErrUnknownVersion for another format version and
// ErrCorrupt for malformed or trailing bytes.
func DecodeAssignment(data []byte) (Assignment, error) {
	r := reader{what: "assignment", b: data}
	var a Assignment
	if err := r.version(); err != nil {
		return Assignment{}, err
	}
	a.Epoch = r.uvarint("epoch")
	a.Active = r.strings("active")
	a.Warmup = r.strings("warmup")
	a.Standby = r.strings("standby")
	a.Reason = r.string("reason")
	if err := r.end(); err != nil {
		return Assignment{}, err
	}
	return a, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader decodes one UserData; the first error sticks and later reads
// return zero values.
type reader struct {
	what string
	b    []byte
	off  int
	err  error
}

func (r *reader) version() error {
	if len(r.b) == 0 {
		return fmt.Errorf("%w: %s is empty (expected version %d)", ErrCorrupt, r.what, Version)
	}
	if v := r.b[0]; v != Version {
		return fmt.Errorf("%w: %s version %d, this build reads version %d: run the same release on every instance of the job",
			ErrUnknownVersion, r.what, v, Version)
	}
	r.off = 1
	return nil
}

func (r *reader) fail(field, problem string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: %s at byte %d: %s", ErrCorrupt, r.what, field, r.off, problem)
	}
}

func (r *reader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail(field, "bad varint")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) int(field string) int {
	v := r.uvarint(field)
	if v > math.MaxInt32 {
		r.fail(field, fmt.Sprintf("%d out of range", v))
		return 0
	}
	return int(v)
}

// count reads a list length, bounded by the bytes left (each entry takes
// at least minSize bytes).
func (r *reader) count(field string, minSize int) int {
	v := r.uvarint(field)
	if r.err == nil && v > uint64((len(r.b)-r.off)/minSize) {
		r.fail(field, fmt.Sprintf("%d entries in %d bytes", v, len(r.b)-r.off))
		return 0
	}
	return int(v)
}

func (r *reader) string(field string) string {
	n := r.uvarint(field)
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail(field, fmt.Sprintf("length %d beyond the end", n))
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

func (r *reader) strings(field string) []string {
	n := r.count(field, 1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.string(field)
	}
	return out
}

func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("end", fmt.Sprintf("%d trailing bytes", len(r.b)-r.off))
	}
	return r.err
}
