package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DefaultStateMemory is state.memory's default (operators/state's
// DefaultMemory).
const DefaultStateMemory = "128MiB"

// DefaultFetchMaxBytes is kafka.fetch_max_bytes' default: the fetched
// records stay in memory until every task downstream has processed them
// (issue 11: at franz-go's default of 50 MiB, 1 MiB per partition, a third
// of the live heap of a keyed count was fetched buffers).
const DefaultFetchMaxBytes = "512KiB"

// minFetchMaxBytes is the smallest kafka.fetch_max_bytes accepted.
const minFetchMaxBytes = 16 << 10

// FetchBytes returns kafka.fetch_max_bytes in bytes (Validate checks
// it); an empty or unreadable value gives the default.
func (k Kafka) FetchBytes() int32 {
	n, err := ParseByteSize(k.FetchMaxBytes)
	if err != nil || n < minFetchMaxBytes {
		n, _ = ParseByteSize(DefaultFetchMaxBytes)
	}
	return int32(min(n, 1<<30))
}

// minStateMemory is the smallest state.memory accepted (state.MinMemory).
const minStateMemory = 8 << 20

// Process configures the processor's process as a whole.
type Process struct {
	// MemoryLimit is the Go runtime's soft memory limit (the GOMEMLIMIT
	// variable wins if set), a byte size; "" (default): 90 % of the
	// container's memory limit (cgroup memory.max), none without one;
	// "off": never set one.
	MemoryLimit string `yaml:"memory_limit"`
}

// byteUnits are the suffixes ParseByteSize accepts, longest first.
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseByteSize parses a byte size: a whole number of bytes, or a number
// (a fraction allowed) followed by B, KB, MB, GB, TB (powers of 1000) or
// KiB, MiB, GiB, TiB (powers of 1024), e.g. "128MiB", "1.5GiB", "500MB".
// Spaces between the number and the unit are allowed.
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	if t == "" {
		return 0, fmt.Errorf("%q is not a byte size (e.g. 128MiB, 1GiB, 500MB, 1048576)", s)
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/mult {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a byte size (e.g. 128MiB, 1GiB, 500MB, 1048576)", s)
	}
	v := f * float64(mult)
	if v < 0 || v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return int64(v), nil
}

// StateMemory returns state.memory in bytes (Validate checks it).
func (c *Config) StateMemory() int64 {
	n, err := ParseByteSize(c.State.Memory)
	if err != nil {
		return 0
	}
	return n
}

// ProcessMemoryLimit returns process.memory_limit: the limit in bytes, or
// 0 with auto true for "" (from the container's limit), or 0 and false for
// "off".
func (c *Config) ProcessMemoryLimit() (limit int64, auto bool) {
	switch strings.TrimSpace(c.Process.MemoryLimit) {
	case "":
		return 0, true
	case "off":
		return 0, false
	}
	n, _ := ParseByteSize(c.Process.MemoryLimit)
	return n, false
}

func (c *Config) validateMemory(ps *problems) {
	if n, err := ParseByteSize(c.State.Memory); err != nil {
		ps.add("state.memory", 0, "%v", err)
	} else if n < minStateMemory {
		ps.add("state.memory", 0, "must be at least 8MiB, got %q", c.State.Memory)
	}
	if v := strings.TrimSpace(c.Kafka.FetchMaxBytes); v != "" {
		if n, err := ParseByteSize(v); err != nil {
			ps.add("kafka.fetch_max_bytes", 0, "%v", err)
		} else if n < minFetchMaxBytes || n > 1<<30 {
			ps.add("kafka.fetch_max_bytes", 0, "must be between 16KiB and 1GiB, got %q", c.Kafka.FetchMaxBytes)
		}
	}
	switch v := strings.TrimSpace(c.Process.MemoryLimit); v {
	case "", "off":
	default:
		if n, err := ParseByteSize(v); err != nil {
			ps.add("process.memory_limit", 0, "must be a byte size, \"off\" or empty (90 %% of the container's limit): %v", err)
		} else if n < 32<<20 {
			ps.add("process.memory_limit", 0, "must be at least 32MiB, got %q", c.Process.MemoryLimit)
		}
	}
}
