package state

// Value is keyed state holding one value of type T per key.
type Value[T any] struct {
	s stateDesc
	c Codec[T]
}

// NewValue returns the value state name of operator op. Creating it again
// with the same op and name gives access to the same values.
func NewValue[T any](b *Backend, op, name string, c Codec[T], opts ...StateOpt) *Value[T] {
	return &Value[T]{s: newDesc(b, op, name, nsValue, opts), c: c}
}

// Get returns the value of key, and whether there is one (an expired value
// is none).
func (v *Value[T]) Get(key []byte) (val T, ok bool, err error) {
	b := v.s.b
	k, err := v.s.key(b.key[:0], key)
	b.key = k
	if err != nil {
		return val, false, v.s.errf("get", err)
	}
	expired := false
	found, err := b.get(k, func(raw []byte) error {
		exp, payload, err := parseHeader(raw)
		if err != nil {
			return err
		}
		if exp <= v.s.now() {
			expired = true
			return nil
		}
		val, err = v.c.Decode(payload)
		return err
	})
	if err == nil && expired {
		err = b.del(k)
	}
	if err != nil {
		return val, false, v.s.errf("get", err)
	}
	return val, found && !expired, nil
}

// Put sets the value of key.
func (v *Value[T]) Put(key []byte, val T) error {
	b := v.s.b
	k, err := v.s.key(b.key[:0], key)
	b.key = k
	if err != nil {
		return v.s.errf("put", err)
	}
	enc, err := v.c.Encode(val)
	if err != nil {
		return v.s.errf("put: encode", err)
	}
	b.val = append(v.s.appendHeader(b.val[:0]), enc...)
	if err := b.set(k, b.val); err != nil {
		return v.s.errf("put", err)
	}
	return nil
}

// Delete removes the value of key.
func (v *Value[T]) Delete(key []byte) error {
	b := v.s.b
	k, err := v.s.key(b.key[:0], key)
	b.key = k
	if err == nil {
		err = b.del(k)
	}
	if err != nil {
		return v.s.errf("delete", err)
	}
	return nil
}
