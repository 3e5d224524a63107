package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/internal/benchfmt"
)

// report prints the throughput table (medians over the rounds) and the
// allocation table.
func report(w io.Writer, o options, results []result, lines []benchLine) {
	names := []string{"raw"}
	for _, r := range results {
		if !slices.Contains(names, r.name) {
			names = append(names, r.name)
		}
	}
	rawRate := benchfmt.Median(values(results, "raw", result.rate))
	rawCPU := benchfmt.Median(values(results, "raw", result.perCPU))
	t := benchfmt.NewTable(w, o.markdown, fmt.Sprintf("Nexmark: %d events over %d partitions, job.parallelism %d; medians over %d round(s); records = input events; times from process start to exit",
		o.events, o.partitions, o.parallelism, o.rounds),
		"query", "output", "records/s", "÷ raw", "records/CPU-s", "÷ raw", "wall", "CPU", "output records", "checked")
	for _, n := range names {
		rs := byName(results, n)
		if len(rs) == 0 {
			continue
		}
		rate, cpu := benchfmt.Median(values(results, n, result.rate)), benchfmt.Median(values(results, n, result.perCPU))
		wall := time.Duration(benchfmt.Median(values(results, n, func(r result) float64 { return float64(r.wall) })))
		cpuTime := time.Duration(benchfmt.Median(values(results, n, func(r result) float64 { return float64(r.cpu) })))
		label, checked := "franz-go consume→produce", "-"
		if n != "raw" {
			label = "configs/nexmark/" + n + ".yaml"
			checked = "no"
			if rs[0].checked != "" {
				checked = "yes"
			}
		}
		t.Row(n, label, fmtRate(rate), ratio(rate, rawRate), fmtRate(cpu), ratio(cpu, rawCPU),
			wall.Round(10*time.Millisecond).String(), cpuTime.Round(10*time.Millisecond).String(), strconv.FormatInt(rs[0].output, 10), checked)
	}
	t.Flush()
	if len(lines) == 0 {
		return
	}
	var extra []string // custom metrics' units, in order of appearance
	for _, l := range lines {
		for _, u := range l.units {
			if !slices.Contains([]string{"ns/op", "B/op", "allocs/op"}, u) && !slices.Contains(extra, u) {
				extra = append(extra, u)
			}
		}
	}
	header := append([]string{"package", "benchmark", "ns/op", "B/op", "allocs/op"}, extra...)
	at := benchfmt.NewTable(w, o.markdown, "Allocations: go test -bench -benchmem in the operator packages (an operator benchmark's op is one record)", header...)
	for _, l := range lines {
		row := []string{strings.TrimPrefix(l.pkg, "github.com/tidemark/tidemark/"), strings.TrimPrefix(l.name, "Benchmark"),
			metric(l, "ns/op"), metric(l, "B/op"), metric(l, "allocs/op")}
		for _, u := range extra {
			row = append(row, metric(l, u))
		}
		at.Row(row...)
	}
	at.Flush()
}

func metric(l benchLine, unit string) string {
	v, ok := l.metrics[unit]
	if !ok {
		return "-"
	}
	if v >= 100 || v == float64(int64(v)) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func byName(rs []result, name string) []result {
	var out []result
	for _, r := range rs {
		if r.name == name {
			out = append(out, r)
		}
	}
	return out
}

func values(rs []result, name string, f func(result) float64) []float64 {
	var out []float64
	for _, r := range byName(rs, name) {
		out = append(out, f(r))
	}
	return out
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// fmtRate prints a rate with three significant digits: 1.23 M, 456 K.
func fmtRate(r float64) string {
	switch {
	case r <= 0:
		return "-"
	case r >= 1e6:
		return fmt.Sprintf("%.3g M", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.3g K", r/1e3)
	}
	return fmt.Sprintf("%.3g", r)
}
