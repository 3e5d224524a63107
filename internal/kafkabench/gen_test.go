package kafkabench

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"
)

func TestGen(t *testing.T) {
	g := NewGen(10000, 100, 1)
	sent := time.Unix(1700000000, 123456789)
	seen := map[string]bool{}
	for i := range 1000 {
		k, key, val := g.Next(sent)
		if len(val) != 100 {
			t.Fatalf("value %d: %d bytes, want 100", i, len(val))
		}
		var ev struct {
			Seq  int64  `json:"seq"`
			Sent int64  `json:"sent"`
			Pad  string `json:"pad"`
		}
		if err := json.Unmarshal(val, &ev); err != nil || ev.Seq != int64(i) || ev.Sent != sent.UnixNano() {
			t.Fatalf("value %q: %+v, %v", val, ev, err)
		}
		if ns, ok := ParseSent(val); !ok || ns != sent.UnixNano() {
			t.Fatalf("ParseSent(%q) = %d, %v", val, ns, ok)
		}
		if n, ok := KeyIndex(key); !ok || n != k || len(key) != len("user-0000") {
			t.Fatalf("KeyIndex(%q) = %d, %v; want %d", key, n, ok, k)
		}
		seen[string(key)] = true
	}
	if len(seen) < 900 {
		t.Errorf("%d distinct keys in 1000 records of 10000 keys", len(seen))
	}
	// Same seed, same records.
	a, b := NewGen(50, 64, 7), NewGen(50, 64, 7)
	for range 100 {
		_, ka, va := a.Next(sent)
		_, kb, vb := b.Next(sent)
		if !bytes.Equal(ka, kb) || !bytes.Equal(va, vb) {
			t.Fatal("two generators with one seed differ")
		}
	}
	if _, ok := ParseSent([]byte("42")); ok {
		t.Error("ParseSent of a count")
	}
	if _, ok := KeyIndex([]byte("other-1")); ok {
		t.Error("KeyIndex of a foreign key")
	}
}

func TestPadKeys(t *testing.T) {
	g := NewGen(1000, 64, 1).PadKeys(300)
	k1, k2 := g.Key(7), g.Key(8)
	if len(k1) != 300 || len(k2) != 300 {
		t.Fatalf("padded keys of %d and %d bytes, want 300", len(k1), len(k2))
	}
	if !bytes.HasPrefix(k1, []byte("user-007-")) || bytes.Equal(k1, k2) {
		t.Fatalf("padded keys %q…, %q…", k1[:20], k2[:20])
	}
	if !bytes.Equal(k1, g.Key(7)) {
		t.Error("a padded key differs between calls")
	}
	if n, ok := KeyIndex(k1); !ok || n != 7 {
		t.Errorf("KeyIndex of a padded key = %d, %v; want 7", n, ok)
	}
}

func TestProc(t *testing.T) {
	if d, err := ProcCPU(os.Getpid()); err != nil || d < 0 {
		t.Errorf("ProcCPU = %s, %v", d, err)
	}
	now, peak, err := ProcRSS(os.Getpid())
	if err != nil || now <= 0 || peak < now {
		t.Errorf("ProcRSS = %d, %d, %v", now, peak, err)
	}
	if _, err := ProcCPU(-1); err == nil {
		t.Error("ProcCPU of pid -1: no error")
	}
}
