package kafkabench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// MinValueSize is the least value size: the JSON event without padding.
const MinValueSize = 64

// Gen generates the benchmarks' records: uniformly random keys
// "user-<n>" (n zero-padded to the width of the largest) and values
// {"seq":…,"sent":<unix ns>,"pad":"<letters>"} padded to the value size
// with random letters (compressible about as much as text).
type Gen struct {
	rnd       *rand.Rand
	keys      int
	width     int
	keySize   int
	valueSize int
	seq       int64
}

// NewGen returns a generator of keys distinct keys and values of
// valueSize bytes (at least MinValueSize); one seed, one sequence.
func NewGen(keys, valueSize int, seed uint64) *Gen {
	return &Gen{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), keys: keys,
		width: len(strconv.Itoa(keys - 1)), valueSize: valueSize}
}

// PadKeys makes every key keySize bytes long (when longer than "user-<n>"):
// "user-<n>-" followed by letters that depend only on n. Large keys make
// large keyed state out of few records.
func (g *Gen) PadKeys(keySize int) *Gen {
	g.keySize = keySize
	return g
}

// Key returns key k.
func (g *Gen) Key(k int) []byte {
	key := fmt.Appendf(make([]byte, 0, max(5+g.width, g.keySize)), "user-%0*d", g.width, k)
	if len(key) < g.keySize {
		key = append(key, '-')
		x := uint64(k)*0x9e3779b97f4a7c15 + 1
		for len(key) < g.keySize {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			key = append(key, 'a'+byte(x%26))
		}
	}
	return key
}

// Next returns a record's key index, key and value, sent at sent.
func (g *Gen) Next(sent time.Time) (int, []byte, []byte) {
	k := g.rnd.IntN(g.keys)
	return k, g.Key(k), g.Value(sent)
}

// Value returns the next value, sent at sent.
func (g *Gen) Value(sent time.Time) []byte {
	v := make([]byte, 0, g.valueSize)
	v = fmt.Appendf(v, `{"seq":%d,"sent":%d,"pad":"`, g.seq, sent.UnixNano())
	for len(v) < g.valueSize-2 {
		x := g.rnd.Uint64()
		for i := 0; i < 8 && len(v) < g.valueSize-2; i++ {
			v = append(v, 'a'+byte(x%26))
			x >>= 8
		}
	}
	v = append(v, '"', '}')
	g.seq++
	return v
}

// ParseSent reads the "sent" field of a generated value.
func ParseSent(v []byte) (int64, bool) {
	const field = `"sent":`
	i := strings.Index(string(v), field)
	if i < 0 {
		return 0, false
	}
	s := v[i+len(field):]
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(s[:j]), 10, 64)
	return n, err == nil
}

// KeyIndex reads n from a key "user-<n>" or "user-<n>-<padding>".
func KeyIndex(key []byte) (int, bool) {
	s, ok := strings.CutPrefix(string(key), "user-")
	if !ok {
		return 0, false
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		s = s[:i]
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}
