package state

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// StateOpt configures one state (Value, Map or List).
type StateOpt func(*stateDesc)

// WithTTL makes values expire d after they were last written (Flink's
// OnCreateAndWrite): an expired value reads as absent and is deleted when it
// is read, and Backend.PurgeExpired deletes the rest. For a List, every
// element expires on its own, d after it was added. Time comes from
// Options.Clock. d <= 0 means no TTL.
func WithTTL(d time.Duration) StateOpt {
	return func(s *stateDesc) { s.ttl = d }
}

// stateDesc is what every state kind knows about itself.
type stateDesc struct {
	b        *Backend
	op, name string
	ns       byte
	ttl      time.Duration
}

func newDesc(b *Backend, op, name string, ns byte, opts []StateOpt) stateDesc {
	s := stateDesc{b: b, op: op, name: name, ns: ns}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// key appends the key of user key key to dst.
func (s *stateDesc) key(dst, key []byte) ([]byte, error) {
	kg := KeyGroup(key, s.b.opts.MaxParallelism)
	if !s.b.opts.KeyGroups.Contains(kg) {
		return dst, fmt.Errorf("%w: key group %d not in %v", ErrKeyGroupOutOfRange, kg, s.b.opts.KeyGroups)
	}
	return appendStateKey(dst, kg, s.op, s.ns, s.name, key), nil
}

// errf wraps err with what failed and where.
func (s *stateDesc) errf(verb string, err error) error {
	return fmt.Errorf("state: %s %s/%s: %w", verb, s.op, s.name, err)
}

// now returns the clock's time in Unix nanoseconds.
func (s *stateDesc) now() int64 { return s.b.opts.Clock().UnixNano() }

// appendHeader appends the header of a value written now.
func (s *stateDesc) appendHeader(dst []byte) []byte {
	if s.ttl <= 0 {
		return append(dst, hdrPlain)
	}
	return binary.BigEndian.AppendUint64(append(dst, hdrExpiry), uint64(s.now()+int64(s.ttl)))
}

// Every stored value and list element starts with a header: hdrPlain, or
// hdrExpiry and the expiry time as 8 bytes big-endian Unix nanoseconds.
const (
	hdrPlain  = 0
	hdrExpiry = 1
)

// noExpiry is the expiry parseHeader gives a value without TTL.
const noExpiry = math.MaxInt64

// parseHeader splits a value into its expiry (noExpiry for none) and the
// rest.
func parseHeader(v []byte) (expiry int64, rest []byte, err error) {
	switch {
	case len(v) >= 1 && v[0] == hdrPlain:
		return math.MaxInt64, v[1:], nil
	case len(v) >= 9 && v[0] == hdrExpiry:
		return int64(binary.BigEndian.Uint64(v[1:])), v[9:], nil
	}
	return 0, nil, ErrCorrupt
}

// A list value is a concatenation of frames, one per element: header,
// uvarint length, encoded element. Add appends a frame with a Pebble merge
// (the default merger concatenates), so adding never reads the list.

// appendFrame appends a list frame holding enc.
func (s *stateDesc) appendFrame(dst, enc []byte) []byte {
	dst = s.appendHeader(dst)
	dst = binary.AppendUvarint(dst, uint64(len(enc)))
	return append(dst, enc...)
}

// nextFrame splits the first frame off v: its expiry, the whole frame and
// its payload.
func nextFrame(v []byte) (expiry int64, frame, payload, rest []byte, err error) {
	expiry, r, err := parseHeader(v)
	if err != nil {
		return 0, nil, nil, nil, err
	}
	n, w := binary.Uvarint(r)
	if w <= 0 || uint64(len(r)-w) < n {
		return 0, nil, nil, nil, ErrCorrupt
	}
	end := len(v) - len(r) + w + int(n)
	return expiry, v[:end], v[len(v)-len(r)+w : end], v[end:], nil
}

// liveFrames returns v without its frames expired at now, and how many it
// dropped. It returns v itself when none expired.
func liveFrames(v []byte, now int64) (live []byte, dropped int, err error) {
	for rest := v; len(rest) > 0; {
		exp, frame, _, r, err := nextFrame(rest)
		if err != nil {
			return nil, 0, err
		}
		rest = r
		if exp <= now {
			if dropped == 0 {
				live = append([]byte{}, v[:len(v)-len(frame)-len(rest)]...)
			}
			dropped++
		} else if dropped > 0 {
			live = append(live, frame...)
		}
	}
	if dropped == 0 {
		return v, 0, nil
	}
	return live, dropped, nil
}

// PurgeExpired deletes every expired value, map entry and list element of
// every state, and returns how many it deleted. Expired state reads as
// absent whether or not it was purged; purging reclaims its space. Call it
// now and then (for example on a processing-time timer or before a
// checkpoint); it reads the whole database.
func (b *Backend) PurgeExpired() (int, error) {
	now := b.opts.Clock().UnixNano()
	purged := 0
	err := b.iterate(nil, nil, func(k, v []byte) (bool, error) {
		if isMeta(k) {
			return true, nil
		}
		ns, ok := parseNamespace(k)
		if !ok {
			return false, fmt.Errorf("%w: key %x", ErrCorrupt, k)
		}
		switch ns {
		case nsValue, nsMap:
			exp, _, err := parseHeader(v)
			if err != nil {
				return false, fmt.Errorf("key %x: %w", k, err)
			}
			if exp <= now {
				purged++
				if ns == nsValue {
					// Clean (iterate wrote the dirty entries to the batch).
					b.cacheForget(k)
				}
				return true, b.batch.Delete(k, nil)
			}
		case nsList:
			live, dropped, err := liveFrames(v, now)
			if err != nil {
				return false, fmt.Errorf("key %x: %w", k, err)
			}
			purged += dropped
			switch {
			case dropped == 0:
			case len(live) == 0:
				return true, b.batch.Delete(k, nil)
			default:
				return true, b.batch.Set(k, live, nil)
			}
		}
		return true, nil
	})
	if err != nil {
		return purged, fmt.Errorf("state: purge expired: %w", err)
	}
	return purged, nil
}
