package logging_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// rawDuration finds a log field that carries a duration as a bare number:
// a numeric zap field whose value is a duration converted to a number
// (d.Seconds(), d.Milliseconds(), …) or whose key names a unit. Such a
// field must be a zap.Duration, which the encoders print with its unit.
var rawDuration = regexp.MustCompile(`zap\.(Int|Int64|Int32|Uint64|Float64|Float32)\("[^"]*", [A-Za-z0-9_.()]*\.(Seconds|Milliseconds|Microseconds|Nanoseconds|Minutes|Hours)\(\)\)|zap\.(Int|Int64|Int32|Uint64|Float64|Float32)\("[a-z_]*(_ms|_millis|_seconds|_secs|_ns|_us)"`)

// TestNoRawDurationFields: no log call in the module's code gives a
// duration as a bare number (logs print durations with their units).
func TestNoRawDurationFields(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for i, line := range strings.Split(string(data), "\n") {
			if m := rawDuration.FindString(line); m != "" {
				t.Errorf("%s:%d: a duration logged as a bare number (%s): use zap.Duration", path, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("only %d Go files checked: is the module root %s?", checked, root)
	}
	for _, bad := range []string{`zap.Float64("took", time.Since(start).Seconds())`, `zap.Int64("timeout_ms", 5)`} {
		if !rawDuration.MatchString(bad) {
			t.Errorf("the check misses %s", bad)
		}
	}
}
