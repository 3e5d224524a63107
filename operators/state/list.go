package state

// List is keyed state holding a list of T per key. Add appends without
// reading the list (a Pebble merge), as Flink's RocksDB list state does.
type List[T any] struct {
	s stateDesc
	c Codec[T]
}

// NewList returns the list state name of operator op. With WithTTL every
// element expires on its own.
func NewList[T any](b *Backend, op, name string, c Codec[T], opts ...StateOpt) *List[T] {
	return &List[T]{s: newDesc(b, op, name, nsList, opts), c: c}
}

// Add appends val to key's list.
func (l *List[T]) Add(key []byte, val T) error {
	b := l.s.b
	k, err := l.s.key(b.key[:0], key)
	b.key = k
	if err != nil {
		return l.s.errf("add", err)
	}
	enc, err := l.c.Encode(val)
	if err != nil {
		return l.s.errf("add: encode", err)
	}
	b.val = l.s.appendFrame(b.val[:0], enc)
	if err := b.merge(k, b.val); err != nil {
		return l.s.errf("add", err)
	}
	return nil
}

// Get returns key's list, oldest element first; nil if it is empty.
func (l *List[T]) Get(key []byte) ([]T, error) {
	b := l.s.b
	k, err := l.s.key(b.key[:0], key)
	b.key = k
	if err != nil {
		return nil, l.s.errf("get", err)
	}
	var (
		out     []T
		live    []byte
		dropped int
	)
	_, err = b.get(k, func(raw []byte) error {
		var err error
		live, dropped, err = liveFrames(raw, l.s.now())
		if err != nil {
			return err
		}
		// With frames dropped, live is a copy that outlives raw.
		for rest := live; len(rest) > 0; {
			_, _, payload, r, err := nextFrame(rest)
			if err != nil {
				return err
			}
			rest = r
			v, err := l.c.Decode(payload)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	switch {
	case err != nil || dropped == 0:
	case len(live) == 0:
		err = b.del(k)
	default:
		err = b.set(k, live)
	}
	if err != nil {
		return nil, l.s.errf("get", err)
	}
	return out, nil
}

// Update replaces key's list with vals.
func (l *List[T]) Update(key []byte, vals []T) error {
	b := l.s.b
	k, err := l.s.key(b.key[:0], key)
	b.key = k
	if err != nil {
		return l.s.errf("update", err)
	}
	if len(vals) == 0 {
		if err := b.del(k); err != nil {
			return l.s.errf("update", err)
		}
		return nil
	}
	buf := b.val[:0]
	for _, v := range vals {
		enc, err := l.c.Encode(v)
		if err != nil {
			return l.s.errf("update: encode", err)
		}
		buf = l.s.appendFrame(buf, enc)
	}
	b.val = buf
	if err := b.set(k, buf); err != nil {
		return l.s.errf("update", err)
	}
	return nil
}

// Clear empties key's list.
func (l *List[T]) Clear(key []byte) error {
	b := l.s.b
	k, err := l.s.key(b.key[:0], key)
	b.key = k
	if err == nil {
		err = b.del(k)
	}
	if err != nil {
		return l.s.errf("clear", err)
	}
	return nil
}
