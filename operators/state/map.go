package state

import "encoding/binary"

// Map is keyed state holding a map from K to V per key. Each entry is a
// database key of its own, so reading or writing one entry never touches
// the others.
type Map[K, V any] struct {
	s  stateDesc
	kc Codec[K]
	vc Codec[V]
}

// NewMap returns the map state name of operator op, with map keys encoded
// by kc and values by vc.
func NewMap[K, V any](b *Backend, op, name string, kc Codec[K], vc Codec[V], opts ...StateOpt) *Map[K, V] {
	return &Map[K, V]{s: newDesc(b, op, name, nsMap, opts), kc: kc, vc: vc}
}

// entryKey appends the database key of entry mk of key's map to dst.
func (m *Map[K, V]) entryKey(dst, key []byte, mk K) ([]byte, error) {
	dst, err := m.s.key(dst, key)
	if err != nil {
		return dst, err
	}
	enc, err := m.kc.Encode(mk)
	if err != nil {
		return dst, err
	}
	return append(dst, enc...), nil
}

// Get returns the value of entry mk in key's map, and whether there is one.
func (m *Map[K, V]) Get(key []byte, mk K) (val V, ok bool, err error) {
	b := m.s.b
	k, err := m.entryKey(b.key[:0], key, mk)
	b.key = k
	if err != nil {
		return val, false, m.s.errf("get", err)
	}
	expired := false
	found, err := b.get(k, func(raw []byte) error {
		exp, payload, err := parseHeader(raw)
		if err != nil {
			return err
		}
		if exp != noExpiry && exp <= m.s.now() {
			expired = true
			return nil
		}
		val, err = m.vc.Decode(payload)
		return err
	})
	if err == nil && expired {
		err = b.del(k)
	}
	if err != nil {
		return val, false, m.s.errf("get", err)
	}
	return val, found && !expired, nil
}

// Put sets entry mk of key's map to val.
func (m *Map[K, V]) Put(key []byte, mk K, val V) error {
	b := m.s.b
	k, err := m.entryKey(b.key[:0], key, mk)
	b.key = k
	if err != nil {
		return m.s.errf("put", err)
	}
	enc, err := m.vc.Encode(val)
	if err != nil {
		return m.s.errf("put: encode", err)
	}
	b.val = append(m.s.appendHeader(b.val[:0]), enc...)
	if err := b.set(k, b.val); err != nil {
		return m.s.errf("put", err)
	}
	return nil
}

// Delete removes entry mk from key's map.
func (m *Map[K, V]) Delete(key []byte, mk K) error {
	b := m.s.b
	k, err := m.entryKey(b.key[:0], key, mk)
	b.key = k
	if err == nil {
		err = b.del(k)
	}
	if err != nil {
		return m.s.errf("delete", err)
	}
	return nil
}

// Clear removes every entry of key's map.
func (m *Map[K, V]) Clear(key []byte) error {
	prefix, err := m.s.key(nil, key)
	if err == nil {
		err = m.s.b.batch.DeleteRange(prefix, prefixEnd(prefix), nil)
	}
	if err == nil {
		err = m.s.b.maybeFlush()
	}
	if err != nil {
		return m.s.errf("clear", err)
	}
	return nil
}

// ClearAll removes every entry of every key's map in the backend's key
// groups, and reports whether there was any. It looks for entries first
// (one seek per key group) and deletes only where it found some, so
// calling it on an empty map writes nothing. Operators use it to drop a
// map that an older version of theirs kept and the current one no longer
// reads, so that restored state does not carry it forever.
func (m *Map[K, V]) ClearAll() (bool, error) {
	b := m.s.b
	cleared := false
	for kg := b.opts.KeyGroups.Start; kg < b.opts.KeyGroups.End; kg++ {
		prefix := appendOpPrefix(nil, kg, m.s.op, m.s.ns)
		prefix = binary.AppendUvarint(prefix, uint64(len(m.s.name)))
		prefix = append(prefix, m.s.name...)
		end := prefixEnd(prefix)
		found := false
		if err := b.iterate(prefix, end, func(_, _ []byte) (bool, error) {
			found = true
			return false, nil
		}); err != nil {
			return cleared, m.s.errf("clear all", err)
		}
		if !found {
			continue
		}
		cleared = true
		if err := b.batch.DeleteRange(prefix, end, nil); err != nil {
			return cleared, m.s.errf("clear all", err)
		}
		if err := b.maybeFlush(); err != nil {
			return cleared, m.s.errf("clear all", err)
		}
	}
	return cleared, nil
}

// Range calls fn for every entry of key's map in the byte order of the
// encoded map keys, until fn returns false. fn may write to any state; the
// iteration sees the map as it was when Range began.
func (m *Map[K, V]) Range(key []byte, fn func(mk K, v V) bool) error {
	b := m.s.b
	prefix, err := m.s.key(nil, key)
	if err != nil {
		return m.s.errf("range", err)
	}
	now := m.s.now()
	err = b.iterate(prefix, prefixEnd(prefix), func(k, raw []byte) (bool, error) {
		exp, payload, err := parseHeader(raw)
		if err != nil {
			return false, err
		}
		if exp <= now {
			return true, b.batch.Delete(k, nil)
		}
		mk, err := m.kc.Decode(k[len(prefix):])
		if err != nil {
			return false, err
		}
		v, err := m.vc.Decode(payload)
		if err != nil {
			return false, err
		}
		return fn(mk, v), nil
	})
	if err != nil {
		return m.s.errf("range", err)
	}
	return nil
}
