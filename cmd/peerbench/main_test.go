package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/config"
)

func TestCheckCounts(t *testing.T) {
	expected := []int32{3, 1, 0, 2}
	good := [][]uint32{{1, 2, 3}, {1}, nil, {1, 2}}
	if err := checkCounts(expected, good, nil); err != nil {
		t.Fatalf("right output: %v", err)
	}
	// A key's outputs out of order but all there once: right.
	if err := checkCounts(expected, [][]uint32{{2, 1, 3}, {1}, nil, {1, 2}}, nil); err != nil {
		t.Fatalf("reordered output: %v", err)
	}
	for _, c := range []struct {
		name string
		outs [][]uint32
		bad  []string
		want string
	}{
		{"missing", [][]uint32{{1, 3}, {1}, nil, {1, 2}}, nil, "key 0 (3 input records): 2 outputs; counts missing 2, duplicated none"},
		{"duplicated", [][]uint32{{1, 2, 2, 3}, {1}, nil, {1, 2}}, nil, "duplicated 2,"},
		{"beyond", [][]uint32{{1, 2, 3}, {1, 2}, nil, {1, 2}}, nil, "beyond the input 2"},
		{"unknown key", [][]uint32{{1, 2, 3}, {1}, {1}, {1, 2}}, nil, "key 2 (0 input records)"},
		{"key not in the input", [][]uint32{{1, 2, 3}, {1}, nil, {1, 2}, {1}}, nil, "key 4: 1 outputs for a key not in the input"},
		{"nothing", make([][]uint32, 4), nil, "6 input records, 0 outputs, 3 problems"},
		{"bad", good, []string{"partition 0 offset 7: key \"x\""}, "not a generated key and a count: partition 0 offset 7"},
	} {
		err := checkCounts(expected, c.outs, c.bad)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "64MiB": 64 << 20, "1.5 KiB": 1536, "500MB": 500e6, "1000": 1000, "2B": 2} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "-1MiB", "1TB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q): no error", in)
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-brokers", "127.0.0.1:9092", "-systems", "raw,tidemark", "-recovery-state", "4MiB"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.systems) != 2 || o.recBytes != 4<<20 || o.records != 2_000_000 || o.keys != 10_000 || o.partitions != 4 || o.parallelism != 2 || o.interval != time.Second {
		t.Errorf("options %+v", o)
	}
	for _, args := range [][]string{
		{"-brokers", "b:1", "-systems", "spark"},
		{"-brokers", "b:1", "-systems", "raw,raw"},
		{"-brokers", "b:1", "-parallelism", "5"},
		{"-brokers", "b:1", "-recovery-state", "10B"},
		{"-brokers", "b:1", "-latency-warmup", "20s"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
}

// The processor's generated configuration is valid and says what the
// benchmark claims: count, exactly once, the interval and parallelism.
func TestTidemarkConfig(t *testing.T) {
	o := options{brokers: []string{"127.0.0.1:1", "127.0.0.1:2"}, parallelism: 2, interval: time.Second}
	y := tidemarkConfig(o, "job-1", "in-topic", "out-topic", "/tmp/x", "127.0.0.1:8080")
	cfg, err := config.Parse("tidemark.yaml", []byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if cfg.Job.Name != "job-1" || cfg.Job.Parallelism != 2 || len(cfg.Kafka.Brokers) != 2 || cfg.Checkpoint.Interval != time.Second ||
		cfg.Checkpoint.Mode != config.ExactlyOnce || cfg.Sink.Delivery != config.ExactlyOnce || cfg.Sink.Topic != "out-topic" ||
		cfg.Checkpoint.Storage != "file:///tmp/x/checkpoints" || cfg.HTTP.Listen != "127.0.0.1:8080" ||
		len(cfg.Pipeline.Operators) != 1 || cfg.Pipeline.Operators[0].Type != "count" {
		t.Errorf("config %+v from\n%s", cfg, y)
	}
}

func TestLineWatcher(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	found := 0
	w := &lineWatcher{w: f, line: readyLine, found: func() { found++ }}
	for _, chunk := range []string{"starting\npeerbench: re", "ady\nmore\n", "peerbench: ready\n"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if found != 1 {
		t.Errorf("ready found %d times, want once", found)
	}
	b, _ := os.ReadFile(f.Name())
	if string(b) != "starting\npeerbench: ready\nmore\npeerbench: ready\n" {
		t.Errorf("log %q", b)
	}
}

func TestBarChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.png")
	if err := barChart(path, "title", "k records/s", []string{"raw", "tidemark"}, []series{{"p50", []float64{1, 2}}, {"p99", []float64{3, 4}}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("not a PNG: %v", err)
	}
}
