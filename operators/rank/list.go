package rank

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/internal/rowcodec"
)

// entry is one row of a top n: its sort key and its encoded record, and
// the record decoded once it is needed.
type entry struct {
	sortKey, row []byte
	rec          *operators.Record
}

// topList is the top n of a partition (or of a partition's window), in
// order.
type topList []entry

// insertPos is where a row with sort key sk goes: after every row that
// sorts before it or equal to it (ties keep arrival order).
func (l topList) insertPos(sk []byte) int {
	return sort.Search(len(l), func(i int) bool { return bytes.Compare(l[i].sortKey, sk) > 0 })
}

// insert puts e at position p, keeping at most n rows; it returns the
// row pushed out, if any.
func (l topList) insert(p int, e entry, n int) (topList, *entry) {
	l = append(l, entry{})
	copy(l[p+1:], l[p:])
	l[p] = e
	if len(l) > n {
		out := l[n]
		return l[:n], &out
	}
	return l, nil
}

// appendList encodes l: the number of rows, then each row's sort key and
// record, length-prefixed.
func appendList(dst []byte, l topList) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(l)))
	for _, e := range l {
		dst = binary.AppendUvarint(dst, uint64(len(e.sortKey)))
		dst = append(dst, e.sortKey...)
		dst = binary.AppendUvarint(dst, uint64(len(e.row)))
		dst = append(dst, e.row...)
	}
	return dst
}

// parseList decodes a list appendList encoded; its entries share b's
// memory (state codecs hand over a copy).
func parseList(b []byte) (topList, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: top n list", rowcodec.ErrCorrupt)
	}
	b = b[w:]
	l := make(topList, 0, n)
	next := func() []byte {
		m, w := binary.Uvarint(b)
		if w <= 0 || m > uint64(len(b)-w) {
			return nil
		}
		out := b[w : w+int(m) : w+int(m)]
		b = b[w+int(m):]
		return out
	}
	for range n {
		sk := next()
		row := next()
		if sk == nil || row == nil {
			return nil, fmt.Errorf("%w: top n list entry", rowcodec.ErrCorrupt)
		}
		l = append(l, entry{sortKey: sk, row: row})
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the top n list", rowcodec.ErrCorrupt, len(b))
	}
	return l, nil
}
