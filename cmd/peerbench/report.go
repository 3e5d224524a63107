package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/tidemark/tidemark/internal/benchfmt"
)

// results are every run's figures.
type results struct {
	o       options
	tput    []runResult
	lats    []latencyResult
	latRate float64
	recs    []recoveryResult
}

func (r *results) runs(system string) []runResult {
	var out []runResult
	for _, t := range r.tput {
		if t.system == system {
			out = append(out, t)
		}
	}
	return out
}

func (r *results) rates(system string) []float64 {
	var out []float64
	for _, t := range r.runs(system) {
		out = append(out, t.rate())
	}
	return out
}

// summary is a system's medians over its throughput runs.
type summary struct {
	rate, minRate        float64
	cpu, brokerCPU       float64 // ns per record
	peakRSS              int64   // the largest
	startup, firstOutput time.Duration
}

func (r *results) summary(system string) summary {
	var s summary
	var cpu, bcpu, su, fo []float64
	for _, t := range r.runs(system) {
		cpu = append(cpu, t.cpuPerRecord())
		bcpu = append(bcpu, float64(t.brokerCPU)/float64(t.records))
		su = append(su, float64(t.startup))
		fo = append(fo, float64(t.firstOutput))
		s.peakRSS = max(s.peakRSS, t.peakRSS)
	}
	rates := r.rates(system)
	if len(rates) > 0 {
		s.minRate = slices.Min(rates)
	}
	s.rate, s.cpu, s.brokerCPU = median(rates), median(cpu), median(bcpu)
	s.startup, s.firstOutput = time.Duration(median(su)), time.Duration(median(fo))
	return s
}

// report prints the tables.
func (r *results) report(w io.Writer, e *env) {
	o := r.o
	raw, tm := r.summary("raw"), r.summary("tidemark")
	if len(r.tput) > 0 {
		t := benchfmt.NewTable(w, o.markdown, fmt.Sprintf("Throughput: %d records of %d B (%d keys, %d partitions), parallelism %d, interval %s; %d round(s) interleaved; medians over the rounds",
			o.records, o.valueSize, o.keys, o.partitions, o.parallelism, o.interval, o.rounds),
			"system", "", "records/s median", "records/s min", "÷ raw", "÷ Tidemark", "CPU/record", "records per CPU-s", "CPU/record broker", "peak RSS", "start-up", "first output")
		for _, name := range o.systems {
			s := r.summary(name)
			perCPU := 0.0
			if s.cpu > 0 {
				perCPU = 1e9 / s.cpu
			}
			t.Row(name, labels[name], fmtRate(s.rate), fmtRate(s.minRate), benchfmt.Ratio(s.rate, raw.rate), benchfmt.Ratio(s.rate, tm.rate),
				fmtNs(s.cpu), fmtRate(perCPU), fmtNs(s.brokerCPU), fmtBytes(s.peakRSS), fmtDur(s.startup), fmtDur(s.firstOutput))
		}
		t.Flush()

		t = benchfmt.NewTable(w, o.markdown, "Every throughput run, in order", "round", "system", "records/s", "ready → all visible",
			"CPU ready → all visible", "CPU whole life", "broker CPU", "peak RSS", "start-up", "first output")
		for _, x := range r.tput {
			t.Row(fmt.Sprint(x.round), x.system, fmtRate(x.rate()), fmtDur(x.visible), fmtDur(x.cpu), fmtDur(x.cpuTotal),
				fmtDur(x.brokerCPU), fmtBytes(x.peakRSS), fmtDur(x.startup), fmtDur(x.firstOutput))
		}
		t.Flush()
	}
	if len(r.lats) > 0 {
		t := benchfmt.NewTable(w, o.markdown, fmt.Sprintf("End-to-end latency, produce to read_committed visibility, at %s records/s (%s), for %s (the first %s left out)",
			fmtRate(r.latRate), r.latNote(), o.latDuration, o.latWarmup),
			"system", "", "records", "p50", "p90", "p99", "max", "input lag max")
		for _, x := range r.lats {
			t.Row(x.system, labels[x.system], fmt.Sprint(len(x.lat)), fmtDur(x.pct(50)), fmtDur(x.pct(90)), fmtDur(x.pct(99)), fmtDur(x.pct(100)), fmtDur(x.inputLag))
		}
		t.Flush()
	}
	if len(r.recs) > 0 {
		keys := r.recs[0].keys
		t := benchfmt.NewTable(w, o.markdown, fmt.Sprintf("Recovery after SIGKILL: state of %d keys of %d B (%s of keys); %d probe records of existing keys produced at the kill",
			keys, o.recKeySize, fmtBytes(int64(keys)*int64(o.recKeySize)), min(o.recProbes, keys)),
			"system", "", "state built in", "local state + checkpoints", "peak RSS", "kill → ready", "kill → first new output", "kill → all probes")
		for _, x := range r.recs {
			t.Row(x.system, labels[x.system], fmtDur(x.build), fmtBytes(x.stateBytes), fmtBytes(x.peakRSS), fmtDur(x.ready), fmtDur(x.firstOutput), fmtDur(x.allProbes))
		}
		t.Flush()
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "records/s: records ÷ time from the system being ready (start-up apart) until a read_committed consumer of its")
	fmt.Fprintln(w, "output saw them all. CPU/record: the system's process (all threads), ready to all visible; records per CPU-s is")
	fmt.Fprintln(w, "its inverse. broker: the Kafka broker's CPU over the same time. peak RSS: the process's VmHWM.")
	fmt.Fprintln(w, "start-up: process start to ready (Tidemark /readyz; the others once restored and about to read). first output:")
	fmt.Fprintln(w, "process start to the first committed output seen (the input is all there before the start).")
	for _, x := range r.lats {
		if x.inputLag > 100*time.Millisecond {
			fmt.Fprintf(w, "warning: latency %s: the producer fell %s behind its schedule: the machine did not keep the rate\n", x.system, fmtDur(x.inputLag))
		}
		if x.unmatched > 0 {
			fmt.Fprintf(w, "warning: latency %s: %d outputs whose produce time could not be found\n", x.system, x.unmatched)
		}
	}
	_ = e
}

func (r *results) latNote() string {
	if r.o.latRate > 0 {
		return "-latency-rate"
	}
	return fmt.Sprintf("%.2g × the slowest system's median throughput", r.o.latShare)
}
