package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartCPUProfile: run --cpuprofile writes a gzipped pprof profile,
// and a path it cannot create is an error naming the flag.
func TestStartCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err := startCPUProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("%s holds %d bytes, not a gzipped profile", path, len(b))
	}
	_, err = startCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.pprof"))
	if err == nil || !strings.Contains(err.Error(), "--cpuprofile") {
		t.Fatalf("profile in a missing directory: %v, want an error naming --cpuprofile", err)
	}
}

// TestStartMemProfile: run --memprofile writes a gzipped pprof heap
// profile at stop, and a path it cannot create is an error naming the flag.
func TestStartMemProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "heap.pprof")
	stop, err := startMemProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("%s holds %d bytes, not a gzipped profile", path, len(b))
	}
	_, err = startMemProfile(filepath.Join(t.TempDir(), "missing", "heap.pprof"))
	if err == nil || !strings.Contains(err.Error(), "--memprofile") {
		t.Fatalf("profile in a missing directory: %v, want an error naming --memprofile", err)
	}
}
