package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// benchLine is one result line of `go test -bench -benchmem`.
type benchLine struct {
	pkg  string
	name string // without the -GOMAXPROCS suffix
	n    int64
	// metrics by unit: ns/op, B/op, allocs/op and any custom ones
	// (b.ReportMetric), in the order printed.
	units   []string
	metrics map[string]float64
}

var gomaxprocsSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads `go test -bench` output (several packages, the
// "pkg:" lines and the "ok" lines naming them).
func parseBench(r io.Reader) ([]benchLine, error) {
	var out []benchLine
	var pkg string
	var pending []int // lines of a package not named yet ("ok pkg" follows)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "pkg:":
			pkg = f[1]
		case len(f) >= 2 && (f[0] == "ok" || f[0] == "FAIL") && strings.Contains(f[1], "/"):
			for _, i := range pending {
				if out[i].pkg == "" {
					out[i].pkg = f[1]
				}
			}
			pending, pkg = nil, ""
		case len(f) >= 4 && strings.HasPrefix(f[0], "Benchmark") && len(f)%2 == 0:
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				continue
			}
			b := benchLine{pkg: pkg, name: gomaxprocsSuffix.ReplaceAllString(f[0], ""), n: n, metrics: map[string]float64{}}
			for i := 2; i+1 < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i], 64)
				if err != nil {
					return nil, fmt.Errorf("bench line %q: %q is not a number", sc.Text(), f[i])
				}
				b.units = append(b.units, f[i+1])
				b.metrics[f[i+1]] = v
			}
			pending = append(pending, len(out))
			out = append(out, b)
		}
	}
	return out, sc.Err()
}

// runAllocs runs the benchmarks of pkgs in the module at root and returns
// their lines.
func runAllocs(ctx context.Context, goBin, root string, pkgs []string, bench, benchtime string) ([]benchLine, error) {
	args := append([]string{"test", "-run", "^$", "-bench", bench, "-benchmem", "-benchtime", benchtime, "-count", "1"}, pkgs...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s%s", goBin, strings.Join(args, " "), err, tail(stdout.String(), 20), tail(stderr.String(), 20))
	}
	return parseBench(&stdout)
}

// benchPackages lists the packages matching patterns (go list) that have a
// benchmark, leaving out those matching skip.
func benchPackages(ctx context.Context, goBin, root string, patterns []string, skip *regexp.Regexp) ([]string, error) {
	args := append([]string{"list", "-f", "{{.ImportPath}} {{.Dir}}"}, patterns...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return nil, fmt.Errorf("%s list %s: %w\n%s", goBin, strings.Join(patterns, " "), err, stderr)
	}
	var pkgs []string
	for line := range strings.Lines(string(out)) {
		path, dir, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || (skip != nil && skip.MatchString(path)) {
			continue
		}
		if hasBenchmark(dir) {
			pkgs = append(pkgs, path)
		}
	}
	return pkgs, nil
}

var benchFunc = regexp.MustCompile(`(?m)^func Benchmark\w*\(b \*testing\.B\)`)

// hasBenchmark reports whether a _test.go file in dir declares a
// benchmark.
func hasBenchmark(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && benchFunc.Match(b) {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n") + "\n"
}
