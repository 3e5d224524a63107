package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
)

// UniqueName returns prefix-<test name>-<random hex>, restricted to
// [a-zA-Z0-9._-] and short enough for a Kafka topic, a transactional id or an
// S3 key segment.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	var b strings.Builder
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > 80 {
		name = name[:80]
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("testenv: random name: %v", err)
	}
	if prefix != "" {
		prefix += "-"
	}
	return prefix + name + "-" + hex.EncodeToString(rnd[:])
}
