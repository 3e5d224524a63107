package memlimit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// Headroom is the share of a container's memory limit left outside the Go
// runtime's limit: for memory the runtime does not count (thread stacks
// outside the heap, memory of cgo code, the kernel's page tables) and for
// the collector's lag.
const Headroom = 0.10

// unlimited is where cgroup v1 reports "no limit" (the largest page
// multiple below 2^63); anything at or above it means none.
const unlimited = 1 << 62

// Source says where the limit came from.
type Source string

// Sources of a limit.
const (
	FromEnv    Source = "GOMEMLIMIT"
	FromConfig Source = "process.memory_limit"
	FromCgroup Source = "cgroup"
	// Default: none of the above: DefaultFloor, raised to follow the
	// live heap (Follow).
	Default Source = "default"
	None    Source = "none"
)

// DefaultFloor is the memory limit of a process that has none from
// GOMEMLIMIT, the configuration or a container: the collector keeps the
// heap near it rather than letting it grow to twice the live data, while
// Follow raises it to twice the live heap when the live data needs more,
// so that a job with more live data is not starved by it.
const DefaultFloor = 100 << 20

// Result is what Apply did.
type Result struct {
	// Limit is the runtime's memory limit in bytes afterwards (0: none).
	Limit  int64
	Source Source
	// Cgroup is the container's limit and the file it was read from, if
	// Source is FromCgroup.
	Cgroup     int64
	CgroupFile string
}

func (r Result) String() string {
	switch r.Source {
	case None:
		return "no memory limit"
	case Default:
		return fmt.Sprintf("memory limit %d bytes by default (no container limit), raised to twice the live heap when that is more", r.Limit)
	case FromCgroup:
		return fmt.Sprintf("memory limit %d bytes, %.0f %% of the container's %d bytes (%s)", r.Limit, 100*(1-Headroom), r.Cgroup, r.CgroupFile)
	}
	return fmt.Sprintf("memory limit %d bytes from %s", r.Limit, r.Source)
}

// Apply sets the runtime's memory limit. configured is
// process.memory_limit in bytes (0: not set); auto says whether, lacking
// both GOMEMLIMIT and configured, the container's limit is used. An error
// reading the cgroup files is returned with the Result of not setting a
// limit; the caller logs it and carries on.
func Apply(configured int64, auto bool) (Result, error) {
	return apply(os.Getenv("GOMEMLIMIT"), configured, auto, "/")
}

func apply(env string, configured int64, auto bool, root string) (Result, error) {
	switch {
	case env != "":
		// The runtime parsed it at start (and refused to start if it
		// was malformed).
		return Result{Limit: current(), Source: FromEnv}, nil
	case configured > 0:
		debug.SetMemoryLimit(configured)
		return Result{Limit: configured, Source: FromConfig}, nil
	case !auto:
		return Result{Source: None}, nil
	}
	limit, file, err := CgroupLimit(root)
	if err != nil {
		return Result{Source: None}, err
	}
	if limit == 0 {
		debug.SetMemoryLimit(DefaultFloor)
		return Result{Limit: DefaultFloor, Source: Default}, nil
	}
	l := int64(float64(limit) * (1 - Headroom))
	debug.SetMemoryLimit(l)
	return Result{Limit: l, Source: FromCgroup, Cgroup: limit, CgroupFile: file}, nil
}

// current returns the runtime's memory limit, 0 if none.
func current() int64 {
	l := debug.SetMemoryLimit(-1)
	if l >= unlimited {
		return 0
	}
	return l
}

// CgroupLimit returns the memory limit of the process's cgroup, and the
// file it read, under the filesystem root root ("/" in production): the
// smallest limit of its cgroup and the cgroup's ancestors (cgroup v2
// memory.max; cgroup v1 memory.limit_in_bytes). 0 and no error: no limit.
func CgroupLimit(root string) (int64, string, error) {
	data, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", nil // not Linux
	}
	if err != nil {
		return 0, "", fmt.Errorf("memory limit: %w", err)
	}
	var v2, v1 string
	var hasV2, hasV1 bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2, hasV2 = parts[2], true
		case containsController(parts[1], "memory"):
			v1, hasV1 = parts[2], true
		}
	}
	if hasV1 {
		return smallest(filepath.Join(root, "sys/fs/cgroup/memory"), v1, "memory.limit_in_bytes")
	}
	if hasV2 {
		return smallest(filepath.Join(root, "sys/fs/cgroup"), v2, "memory.max")
	}
	return 0, "", nil
}

func containsController(list, c string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == c {
			return true
		}
	}
	return false
}

// smallest reads file in the cgroup directory mount/cg and every ancestor
// up to mount, and returns the smallest limit found. Inside a container
// the cgroup namespace usually makes the process's own cgroup the mount's
// root, while without one the path names it below the mount.
func smallest(mount, cg, file string) (int64, string, error) {
	var best int64
	var bestFile string
	for dir := path.Clean("/" + cg); ; dir = path.Dir(dir) {
		f := filepath.Join(mount, filepath.FromSlash(dir), file)
		n, err := readLimit(f)
		if err != nil {
			return 0, "", err
		}
		if n > 0 && (best == 0 || n < best) {
			best, bestFile = n, f
		}
		if dir == "/" {
			break
		}
	}
	return best, bestFile, nil
}

// readLimit reads a cgroup limit file: 0 for "max", a value meaning no
// limit, or a file that is not there.
func readLimit(file string) (int64, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("memory limit: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memory limit: %s holds %q, not a number of bytes or \"max\"", file, s)
	}
	if n <= 0 || n >= unlimited {
		return 0, nil
	}
	return n, nil
}
