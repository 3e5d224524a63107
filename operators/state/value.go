package state

import (
	"bytes"
)

// Value is keyed state holding one value of type T per key.
//
// Values are read and written through the backend's write-back cache
// (cache.go).
type Value[T any] struct {
	s stateDesc
	c Codec[T]
	// user and key memoise the last user key and its state key: an
	// operator that reads a key and then writes it hashes it once.
	user, key []byte
}

// NewValue returns the value state name of operator op. Creating it again
// with the same op and name gives access to the same values.
func NewValue[T any](b *Backend, op, name string, c Codec[T], opts ...StateOpt) *Value[T] {
	return &Value[T]{s: newDesc(b, op, name, nsValue, opts), c: c}
}

// stateKey returns the state key of user key key, valid until the next
// call.
func (v *Value[T]) stateKey(key []byte) ([]byte, error) {
	if v.key != nil && bytes.Equal(key, v.user) {
		return v.key, nil
	}
	k, err := v.s.key(v.key[:0], key)
	if err != nil {
		v.key = nil
		return nil, err
	}
	v.key, v.user = k, append(v.user[:0], key...)
	return k, nil
}

// Get returns the value of key, and whether there is one (an expired value
// is none).
func (v *Value[T]) Get(key []byte) (val T, ok bool, err error) {
	b := v.s.b
	k, err := v.stateKey(key)
	if err != nil {
		return val, false, v.s.errf("get", err)
	}
	raw, found, err := b.cacheGet(k)
	if err != nil || !found {
		if err != nil {
			err = v.s.errf("get", err)
		}
		return val, false, err
	}
	exp, payload, err := parseHeader(raw)
	if err != nil {
		return val, false, v.s.errf("get", err)
	}
	if exp != noExpiry && exp <= v.s.now() {
		if err := b.cacheSet(k, nil, true); err != nil {
			return val, false, v.s.errf("get", err)
		}
		return val, false, nil
	}
	if val, err = v.c.Decode(payload); err != nil {
		return val, false, v.s.errf("get", err)
	}
	return val, true, nil
}

// Put sets the value of key.
func (v *Value[T]) Put(key []byte, val T) error {
	b := v.s.b
	k, err := v.stateKey(key)
	if err != nil {
		return v.s.errf("put", err)
	}
	b.val = v.s.appendHeader(b.val[:0])
	if ae, ok := any(v.c).(appendEncoder[T]); ok {
		b.val, err = ae.AppendEncode(b.val, val)
	} else {
		var enc []byte
		enc, err = v.c.Encode(val)
		b.val = append(b.val, enc...)
	}
	if err != nil {
		return v.s.errf("put: encode", err)
	}
	if err := b.cacheSet(k, b.val, false); err != nil {
		return v.s.errf("put", err)
	}
	return nil
}

// Delete removes the value of key.
func (v *Value[T]) Delete(key []byte) error {
	b := v.s.b
	k, err := v.stateKey(key)
	if err == nil {
		err = b.cacheSet(k, nil, true)
	}
	if err != nil {
		return v.s.errf("delete", err)
	}
	return nil
}
