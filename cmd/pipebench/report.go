package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tidemark/tidemark/internal/benchfmt"
)

// report prints the results' tables.
func report(w io.Writer, o options, tput []runResult, lats []latencyResult, rate float64, rateNote string, broker bool) {
	base := benchfmt.Median(rates(tput, "a"))
	var baseCPU float64 // (a)'s median CPU per record, here plus broker
	if as := byVariant(tput, "a"); len(as) > 0 {
		var here, brk []float64
		for _, r := range as {
			here = append(here, float64(r.cpu.proc)/float64(r.records))
			brk = append(brk, float64(r.cpu.broker)/float64(r.records))
		}
		baseCPU = benchfmt.Median(here) + benchfmt.Median(brk)
	}
	if len(tput) > 0 {
		header := []string{"variant", "pipeline", "records/s min", "records/s median", "÷ (a)", "÷ (a) by round", "written/s median", "start-up", "first out", "CPU/record here", "ckpts/run", "ckpt e2e p50", "ckpt phases p50"}
		if broker {
			header = slices.Insert(header, 10, "CPU/record broker", "(a) ÷ CPU")
		}
		t := benchfmt.NewTable(w, o.markdown, fmt.Sprintf("Throughput: %d records of %d B (%d keys, %d partitions), job.parallelism %d, checkpoint.interval %s; %d round(s) interleaved; min and median over the rounds",
			o.records, o.valueSize, o.keys, o.partitions, o.parallelism, o.interval, o.rounds), header...)
		for _, v := range o.variants {
			rs := byVariant(tput, v.name)
			if len(rs) == 0 {
				continue
			}
			rate := rates(tput, v.name)
			var written, startup, cpu, bcpu []float64
			var ckpts, first []float64
			var e2e []time.Duration
			var phases ckptPhases
			for _, r := range rs {
				first = append(first, r.firstOut.Seconds())
				phases.delay = append(phases.delay, r.phases.delay...)
				phases.align = append(phases.align, r.phases.align...)
				phases.sync = append(phases.sync, r.phases.sync...)
				phases.async = append(phases.async, r.phases.async...)
				if r.written > 0 {
					written = append(written, float64(r.records)/r.written.Seconds())
				}
				startup = append(startup, r.startup.Seconds())
				cpu = append(cpu, float64(r.cpu.proc)/float64(r.records))
				bcpu = append(bcpu, float64(r.cpu.broker)/float64(r.records))
				ckpts = append(ckpts, float64(r.checkpoints))
				e2e = append(e2e, r.ckptE2E...)
			}
			su, ck, ce, fo, ph := "-", "-", "-", benchfmt.Dur(time.Duration(benchfmt.Median(first)*float64(time.Second))), "-"
			if v.tidemark {
				su = benchfmt.Dur(time.Duration(benchfmt.Median(startup) * float64(time.Second)))
				ph = phases.String()
				ck = fmt.Sprintf("%.0f", benchfmt.Median(ckpts))
				if len(e2e) > 0 {
					ce = benchfmt.Dur(benchfmt.Pct(e2e, 50))
				}
			}
			var byRound []string
			for _, r := range rs {
				if a := runOf(tput, "a", r.round); a != nil {
					byRound = append(byRound, benchfmt.Ratio(r.rate(), a.rate()))
				}
			}
			row := []string{v.name, v.label, benchfmt.Rate(slices.Min(rate)), benchfmt.Rate(benchfmt.Median(rate)), benchfmt.Ratio(benchfmt.Median(rate), base),
				strings.Join(byRound, ", "), benchfmt.Rate(benchfmt.Median(written)), su, fo, benchfmt.Ns(benchfmt.Median(cpu)), ck, ce, ph}
			if broker {
				total := benchfmt.Median(cpu) + benchfmt.Median(bcpu)
				row = slices.Insert(row, 10, benchfmt.Ns(benchfmt.Median(bcpu)), benchfmt.Ratio(baseCPU, total))
			}
			t.Row(row...)
		}
		t.Flush()

		t = benchfmt.NewTable(w, o.markdown, "Every throughput run, in order", "round", "variant", "visible after", "records/s", "written after", "start-up", "CPU here", "CPU broker", "records/batch out", "ckpts")
		for _, r := range tput {
			su := "-"
			if r.startup > 0 {
				su = benchfmt.Dur(r.startup)
			}
			b := "-"
			if broker {
				b = benchfmt.Dur(r.cpu.broker)
			}
			t.Row(fmt.Sprint(r.round), r.variant, benchfmt.Dur(r.visible), benchfmt.Rate(r.rate()), benchfmt.Dur(r.written), su, benchfmt.Dur(r.cpu.proc), b,
				fmt.Sprintf("%.0f", r.perBatch), fmt.Sprint(r.checkpoints))
		}
		t.Flush()
	}
	if len(lats) > 0 {
		if rateNote != "" {
			rateNote = ": " + rateNote
		}
		at := benchfmt.Rate(rate) + " records/s" + rateNote
		if o.latOwn && o.latRate == 0 {
			at = strings.TrimPrefix(rateNote, ": ")
		}
		t := benchfmt.NewTable(w, o.markdown, fmt.Sprintf("End-to-end latency, produce to read_committed visibility, at %s, for %s (the first %s left out)",
			at, o.latDuration, o.latWarmup),
			"variant", "pipeline", "rate", "records", "p50", "p90", "p99", "max", "ckpt e2e p50", "ckpt e2e max", "ckpt phases p50", "input lag max")
		for _, r := range lats {
			v, _ := variantByName(r.variant)
			ce, cm, ph := "-", "-", "-"
			if len(r.ckptE2E) > 0 {
				ce, cm, ph = benchfmt.Dur(benchfmt.Pct(r.ckptE2E, 50)), benchfmt.Dur(benchfmt.Pct(r.ckptE2E, 100)), r.phases.String()
			}
			t.Row(r.variant, v.label, benchfmt.Rate(r.rate), fmt.Sprint(len(r.lat)), benchfmt.Dur(r.pct(50)), benchfmt.Dur(r.pct(90)), benchfmt.Dur(r.pct(99)), benchfmt.Dur(r.pct(100)), ce, cm, ph,
				benchfmt.Dur(r.inputLag))
		}
		t.Flush()
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "records/s: records ÷ time from the pipeline being ready (Tidemark: restored, about to process; start-up")
	fmt.Fprintln(w, "apart) until a read_committed consumer of the output saw them all; ÷ (a) compares medians, ÷ (a) by round")
	fmt.Fprintln(w, "each run with (a)'s run of the same round. written/s: until the output's high watermarks summed to the")
	fmt.Fprintln(w, "record count (written, committed or not). CPU/record: CPU time of this process (pipeline plus the")
	fmt.Fprintln(w, "watching consumer) or of the broker during the run, per record (medians); (a) ÷ CPU: (a)'s CPU per record")
	fmt.Fprintln(w, "(here plus broker) ÷ this variant's, the throughput ratio to expect when the cores are the limit.")
	fmt.Fprintln(w, "ckpt e2e: Tidemark's checkpoints completed during the run, trigger to metadata written. ckpt phases: their")
	fmt.Fprintln(w, "medians of start delay (trigger to a task's first barrier) / alignment / sync part / async part, each the")
	fmt.Fprintln(w, "longest over tasks. first out: from ready until the consumer saw the first output record (Tidemark: the")
	fmt.Fprintln(w, "first checkpoint's commit). records/batch out: mean records per record batch in the output topic (control")
	fmt.Fprintln(w, "batches included): how the producers batched.")
	if len(lats) > 0 {
		fmt.Fprintln(w, "Latency: from just before the input record's Produce call until a read_committed consumer's poll returned")
		fmt.Fprintln(w, "it. input lag max: how far the producer fell behind its schedule at worst (1 ms ticks).")
	}
	for _, r := range lats {
		if r.inputLag > 100*time.Millisecond {
			fmt.Fprintf(w, "warning: latency %s: the producer fell %s behind its schedule: the machine did not keep the rate\n", r.variant, benchfmt.Dur(r.inputLag))
		}
		if r.unmatched > 0 {
			fmt.Fprintf(w, "warning: latency %s: %d output records whose produce time could not be found\n", r.variant, r.unmatched)
		}
		if r.seen != r.produced {
			fmt.Fprintf(w, "warning: latency %s: %d records produced, %d seen in the output\n", r.variant, r.produced, r.seen)
		}
	}
	for _, r := range lats {
		if m := benchfmt.Median(rates(tput, r.variant)); r.rate > 0 && m > 0 && r.rate > 0.7*m {
			fmt.Fprintf(w, "warning: the latency rate %s records/s is above 70 %% of %s's median throughput: its latency includes queueing\n", benchfmt.Rate(r.rate), r.variant)
		}
	}
}

// runOf is variant name's run in round, or nil.
func runOf(rs []runResult, name string, round int) *runResult {
	for i := range rs {
		if rs[i].variant == name && rs[i].round == round {
			return &rs[i]
		}
	}
	return nil
}

func byVariant(rs []runResult, name string) []runResult {
	var out []runResult
	for _, r := range rs {
		if r.variant == name {
			out = append(out, r)
		}
	}
	return out
}

func rates(rs []runResult, name string) []float64 {
	var out []float64
	for _, r := range byVariant(rs, name) {
		out = append(out, r.rate())
	}
	return out
}
