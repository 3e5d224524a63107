package config_test

import (
	"strings"
	"testing"

	"github.com/tidemark/tidemark/internal/config"
)

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"134217728": 128 << 20, "128MiB": 128 << 20, "128 MiB": 128 << 20, "1GiB": 1 << 30, "1.5GiB": 3 << 29,
		"500MB": 500e6, "64KiB": 64 << 10, "2KB": 2000, "10B": 10, " 8MiB ": 8 << 20,
	} {
		if got, err := config.ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "-1MiB", "lots", "12XB", "1e30GiB", "NaN"} {
		if got, err := config.ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestMemoryKeys(t *testing.T) {
	cfg, err := parse(t, minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Kafka.FetchBytes(); n != 512<<10 {
		t.Errorf("default kafka.fetch_max_bytes: %d, want 512 KiB", n)
	}
	if n := (config.Kafka{FetchMaxBytes: "2MiB"}).FetchBytes(); n != 2<<20 {
		t.Errorf("kafka.fetch_max_bytes 2MiB: %d", n)
	}
	if got := cfg.StateMemory(); got != 128<<20 {
		t.Errorf("default state.memory: %d bytes, want 128 MiB", got)
	}
	if l, auto := cfg.ProcessMemoryLimit(); l != 0 || !auto {
		t.Errorf("default process.memory_limit: %d, auto %v; want 0, auto", l, auto)
	}
	cfg, err = parse(t, minimal+"state:\n  memory: 256MiB\nprocess:\n  memory_limit: 1GiB\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.StateMemory(); got != 256<<20 {
		t.Errorf("state.memory: %d bytes, want 256 MiB", got)
	}
	if l, auto := cfg.ProcessMemoryLimit(); l != 1<<30 || auto {
		t.Errorf("process.memory_limit: %d, auto %v; want 1 GiB", l, auto)
	}
	cfg, err = parse(t, minimal+"process:\n  memory_limit: \"off\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if l, auto := cfg.ProcessMemoryLimit(); l != 0 || auto {
		t.Errorf("process.memory_limit off: %d, auto %v", l, auto)
	}
	for _, tc := range []struct{ yml, key, msg string }{
		{"state:\n  memory: lots\n", "state.memory", "not a byte size"},
		{"state:\n  memory: 1MiB\n", "state.memory", "at least 8MiB"},
		{"process:\n  memory_limit: 1MiB\n", "process.memory_limit", "at least 32MiB"},
		{"process:\n  memory_limit: unlimited\n", "process.memory_limit", "must be a byte size"},
		{"  fetch_max_bytes: lots\n", "kafka.fetch_max_bytes", "not a byte size"},
		{"  fetch_max_bytes: 1KiB\n", "kafka.fetch_max_bytes", "between 16KiB and 1GiB"},
	} {
		yml := minimal + tc.yml
		if strings.HasPrefix(tc.yml, "  ") { // a key of the kafka section
			yml = strings.Replace(minimal, "kafka:\n", "kafka:\n"+tc.yml, 1)
		}
		_, err := parse(t, yml, nil)
		ps := problems(t, err)
		if len(ps) != 1 || ps[0].Key != tc.key || !strings.Contains(ps[0].Msg, tc.msg) || ps[0].Line == 0 {
			t.Errorf("%q: got %v, want one problem of %s saying %q, with its line", tc.yml, err, tc.key, tc.msg)
		}
	}
}
