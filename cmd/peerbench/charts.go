package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// series is one bar per system.
type series struct {
	name   string
	values []float64
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// barChart draws grouped bars, one group per system, one bar per series,
// into path (PNG).
func barChart(path, title, ylabel string, systems []string, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	w := vg.Points(60 / float64(len(ss)))
	for i, s := range ss {
		bars, err := plotter.NewBarChart(plotter.Values(s.values), w)
		if err != nil {
			return err
		}
		bars.Color = palette[i%len(palette)]
		bars.LineStyle.Width = 0
		bars.Offset = w * vg.Length(float64(i)-float64(len(ss)-1)/2)
		p.Add(bars)
		if len(ss) > 1 {
			p.Legend.Add(s.name, bars)
		}
	}
	p.Legend.Top = true
	// Headroom above the tallest bar for the legend.
	top := 0.0
	for _, s := range ss {
		for _, v := range s.values {
			top = max(top, v)
		}
	}
	if top > 0 {
		p.Y.Max = top * 1.3
	}
	p.NominalX(systems...)
	return p.Save(6*vg.Inch, 3.5*vg.Inch, path)
}

// charts draws the results into dir and returns the files written.
func (r *results) charts(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	draw := func(name, title, ylabel string, systems []string, ss ...series) error {
		path := filepath.Join(dir, name)
		if err := barChart(path, title, ylabel, systems, ss); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		files = append(files, path)
		return nil
	}
	sys := r.o.systems
	if len(r.tput) > 0 {
		var rate, cpu, rss, su, fo []float64
		for _, s := range sys {
			m := r.summary(s)
			rate = append(rate, m.rate/1e3)
			cpu = append(cpu, m.cpu/1e3)
			rss = append(rss, float64(m.peakRSS)/(1<<20))
			su = append(su, m.startup.Seconds())
			fo = append(fo, m.firstOutput.Seconds())
		}
		sub := fmt.Sprintf("%d records, %d keys, exactly once, interval %s, parallelism %d", r.o.records, r.o.keys, r.o.interval, r.o.parallelism)
		if err := draw("peers-throughput.png", "Throughput (median), "+sub, "k records/s", sys, series{"records/s", rate}); err != nil {
			return files, err
		}
		if err := draw("peers-cpu.png", "CPU per record (median, the system's process)", "µs of CPU per record", sys, series{"CPU", cpu}); err != nil {
			return files, err
		}
		if err := draw("peers-rss.png", "Peak RSS (throughput runs)", "MiB", sys, series{"peak RSS", rss}); err != nil {
			return files, err
		}
		if err := draw("peers-startup.png", "Start-up and first committed output, from process start", "s", sys,
			series{"ready", su}, series{"first committed output", fo}); err != nil {
			return files, err
		}
	}
	if len(r.lats) > 0 {
		var names []string
		var p50, p99 []float64
		for _, x := range r.lats {
			names = append(names, x.system)
			p50 = append(p50, float64(x.pct(50).Milliseconds()))
			p99 = append(p99, float64(x.pct(99).Milliseconds()))
		}
		if err := draw("peers-latency.png", fmt.Sprintf("End-to-end latency at %s records/s, exactly once", fmtRate(r.latRate)), "ms", names,
			series{"p50", p50}, series{"p99", p99}); err != nil {
			return files, err
		}
	}
	if len(r.recs) > 0 {
		var names []string
		var ready, first []float64
		for _, x := range r.recs {
			names = append(names, x.system)
			ready = append(ready, x.ready.Seconds())
			first = append(first, x.firstOutput.Seconds())
		}
		keys := r.recs[0].keys
		if err := draw("peers-recovery.png", fmt.Sprintf("Recovery after SIGKILL, %s of keyed state (%d keys)", fmtBytes(int64(keys)*int64(r.o.recKeySize)), keys), "s after the kill", names,
			series{"ready", ready}, series{"first new committed output", first}); err != nil {
			return files, err
		}
	}
	return files, nil
}
