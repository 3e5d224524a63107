package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/nexmark"
	"github.com/tidemark/tidemark/nexmark/harness"
	"github.com/tidemark/tidemark/nexmark/reference"
)

const envBrokers = "TIDEMARK_KAFKA_BROKERS"

type options struct {
	brokers     []string
	events      int64
	partitions  int
	parallelism int
	rate        int
	seed        uint64
	queries     []string
	rounds      int
	processor   string
	root        string
	goBin       string
	check       bool
	allocs      bool
	allocPkgs   []string
	allocSkip   *regexp.Regexp
	allocBench  string
	benchtime   string
	timeout     time.Duration
	dir         string
	keep        bool
	markdown    bool
	cpuProfile  string
}

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "rawpipe" {
		err = rawPipeMain(os.Args[2:])
	} else {
		err = run(os.Args[1:], os.Stdout)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "nexmarkbench:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line.
func parseFlags(args []string) (options, error) {
	var o options
	var brokers, queries, allocPkgs, allocSkip string
	fs := flag.NewFlagSet("nexmarkbench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nexmarkbench [flags]\n\nMeasures the Nexmark queries of configs/nexmark on a real Kafka broker beside a\nraw franz-go pipe of the same input, and the operators' allocations per record.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&brokers, "brokers", "", "Kafka seed brokers, comma-separated (default $"+envBrokers+")")
	fs.Int64Var(&o.events, "events", 1_000_000, "events generated into the input topic")
	fs.IntVar(&o.partitions, "partitions", 4, "partitions of the input and output topics")
	fs.IntVar(&o.parallelism, "parallelism", 2, "job.parallelism of the queries, and pipes of the raw pipe")
	fs.IntVar(&o.rate, "rate", 10_000, "events per second of event time (the generator's --rate)")
	fs.Uint64Var(&o.seed, "seed", 0, "generator seed")
	fs.StringVar(&queries, "queries", strings.Join(reference.Names, ","), `queries to run, comma-separated, or "none" (raw pipe and allocations only)`)
	fs.IntVar(&o.rounds, "rounds", 1, "rounds; each runs the raw pipe and every query once; medians are reported")
	fs.StringVar(&o.processor, "processor", "", "processor binary (default: built from ./cmd/processor into a temporary directory)")
	fs.StringVar(&o.root, "root", "", "repository root, holding configs/nexmark (default: the directory above the working directory holding go.mod)")
	fs.StringVar(&o.goBin, "go", "go", "go command, to build the processor and run the allocation benchmarks")
	fs.BoolVar(&o.check, "check", true, "compare each query's committed output with nexmark/reference (holds the events in memory)")
	fs.BoolVar(&o.allocs, "allocs", true, "run the allocation benchmarks")
	fs.StringVar(&allocPkgs, "allocs-pkgs", "./operators/...,./format/json,./expression", "packages (go list patterns, comma-separated) whose benchmarks give allocations per record")
	fs.StringVar(&allocSkip, "allocs-skip", `/operators/(state|optest)$`, "regexp of import paths left out of -allocs-pkgs")
	fs.StringVar(&o.allocBench, "allocs-bench", ".", "go test -bench regexp of the allocation benchmarks")
	fs.StringVar(&o.benchtime, "benchtime", "1s", "go test -benchtime of the allocation benchmarks")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound on each run")
	fs.StringVar(&o.dir, "dir", "", "directory for state, checkpoints, configurations and logs (default: a new temporary directory, removed afterwards unless -keep)")
	fs.BoolVar(&o.keep, "keep", false, "keep topics and the directory")
	fs.BoolVar(&o.markdown, "markdown", false, "print the tables as Markdown (docs/benchmarks.md)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "directory to write a CPU profile of each query's processor into (processor run --cpuprofile DIR/<query>-<round>.pprof)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if brokers == "" {
		brokers = os.Getenv(envBrokers)
	}
	for b := range strings.SplitSeq(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.brokers = append(o.brokers, b)
		}
	}
	if len(o.brokers) == 0 {
		return o, fmt.Errorf("no broker: set -brokers or %s (bash integration/services.sh start kafka; eval \"$(bash integration/services.sh env kafka)\"), or run make bench-nexmark", envBrokers)
	}
	if queries != "none" {
		for q := range strings.SplitSeq(queries, ",") {
			q = strings.TrimSpace(q)
			if !slices.Contains(reference.Names, q) {
				return o, fmt.Errorf("-queries: unknown query %q (have %s, or none)", q, strings.Join(reference.Names, ","))
			}
			if slices.Contains(o.queries, q) {
				return o, fmt.Errorf("-queries: %s given twice", q)
			}
			o.queries = append(o.queries, q)
		}
	}
	for p := range strings.SplitSeq(allocPkgs, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.allocPkgs = append(o.allocPkgs, p)
		}
	}
	if allocSkip != "" {
		re, err := regexp.Compile(allocSkip)
		if err != nil {
			return o, fmt.Errorf("-allocs-skip: %w", err)
		}
		o.allocSkip = re
	}
	switch {
	case o.events < 1:
		return o, errors.New("-events: at least 1")
	case o.partitions < 1:
		return o, errors.New("-partitions: at least 1")
	case o.parallelism < 1 || o.parallelism > 128:
		return o, errors.New("-parallelism: 1 to 128")
	case o.rate < 1:
		return o, errors.New("-rate: at least 1 event per second")
	case o.rounds < 1:
		return o, errors.New("-rounds: at least 1")
	case o.timeout <= 0:
		return o, errors.New("-timeout: positive")
	}
	return o, nil
}

// bench is one benchmark run's environment.
type bench struct {
	o      options
	runID  string
	adm    *kadm.Client
	admCl  *kgo.Client
	topics []string
	self   string // this executable, for the rawpipe child
	log    io.Writer
}

func run(args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.root == "" {
		if o.root, err = findRoot(); err != nil {
			return err
		}
	}
	if o.dir == "" {
		dir, err := os.MkdirTemp("", "nexmarkbench-")
		if err != nil {
			return err
		}
		o.dir = dir
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	b := &bench{o: o, runID: time.Now().UTC().Format("150405") + "-" + hex.EncodeToString(rnd[:]), log: os.Stderr}
	if b.self, err = os.Executable(); err != nil {
		return fmt.Errorf("own executable, for the raw pipe: %w", err)
	}
	if b.admCl, err = kgo.NewClient(kgo.SeedBrokers(o.brokers...), kgo.ClientID("nexmarkbench")); err != nil {
		return err
	}
	defer b.admCl.Close()
	b.adm = kadm.NewClient(b.admCl)
	defer b.cleanup(context.WithoutCancel(ctx))

	host, _ := os.Hostname()
	fmt.Fprintf(stdout, "nexmarkbench: %s, %s/%s, %d CPUs, host %s, load average %s, %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), host, loadAvg(), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "broker %s; %d events (seed %d, %d events/s of event time) over %d partitions; job.parallelism %d; raw pipe %d pipe(s)\n",
		strings.Join(o.brokers, ","), o.events, o.seed, o.rate, o.partitions, o.parallelism, o.parallelism)

	if len(o.queries) > 0 && o.processor == "" {
		b.progress("building the processor ...")
		o.processor = filepath.Join(o.dir, "processor")
		cmd := exec.CommandContext(ctx, o.goBin, "build", "-o", o.processor, "./cmd/processor")
		cmd.Dir = o.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/processor: %w\n%s", err, out)
		}
		b.o.processor = o.processor
	}

	cfg := nexmark.DefaultConfig()
	cfg.Seed, cfg.Rate = o.seed, o.rate
	gen, err := nexmark.New(cfg)
	if err != nil {
		return err
	}
	in := b.topic("events")
	b.topics = append(b.topics, in)
	b.progress("generating %d events into %s ...", o.events, in)
	st, err := nexmark.Write(ctx, gen, nexmark.WriteOptions{Topic: in, Partitions: int32(o.partitions), Events: o.events,
		Kafka: []kgo.Opt{kgo.SeedBrokers(o.brokers...)}})
	if err != nil {
		return err
	}
	b.progress("generated in %s: %.0f events/s, %.1f MB", st.Elapsed.Round(time.Millisecond), st.EventsPerSecond(), float64(st.Bytes)/1e6)

	var refs map[string]*reference.Result
	if o.check && len(o.queries) > 0 {
		b.progress("computing the reference ...")
		input := reference.Input{Events: gen.Events(0, o.events), Partitions: o.partitions}
		if late := reference.BehindWatermark(input); len(late) > 0 {
			return fmt.Errorf("%d events behind the watermark: the reference would not be exact", len(late))
		}
		refs = map[string]*reference.Result{}
		for _, q := range o.queries {
			if refs[q], err = reference.Query(q, input); err != nil {
				return err
			}
		}
	}

	var results []result
	for round := 1; round <= o.rounds; round++ {
		r, err := b.runRaw(ctx, in, round)
		if err != nil {
			return fmt.Errorf("raw pipe, round %d: %w", round, err)
		}
		b.progress("round %d raw: %.0f records/s, %.0f records/CPU-s", round, r.rate(), r.perCPU())
		results = append(results, r)
		for _, q := range o.queries {
			r, err := b.runQuery(ctx, q, in, round, refs[q])
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", q, round, err)
			}
			b.progress("round %d %s: %.0f records/s, %.0f records/CPU-s, %d output records%s", round, q, r.rate(), r.perCPU(), r.output, r.checked)
			results = append(results, r)
		}
	}

	var lines []benchLine
	if o.allocs {
		pkgs, err := benchPackages(ctx, o.goBin, o.root, o.allocPkgs, o.allocSkip)
		if err != nil {
			return err
		}
		if len(pkgs) > 0 {
			b.progress("allocation benchmarks in %s ...", strings.Join(pkgs, " "))
			if lines, err = runAllocs(ctx, o.goBin, o.root, pkgs, o.allocBench, o.benchtime); err != nil {
				return err
			}
		}
	}
	report(stdout, o, results, lines)
	fmt.Fprintf(stdout, "\nload average at the end %s\n", loadAvg())
	return nil
}

// result is one measured run.
type result struct {
	name    string // "raw" or the query
	round   int
	events  int64
	wall    time.Duration
	cpu     time.Duration
	output  int64
	checked string // " (checked)" when compared with the reference
}

func (r result) rate() float64 { return float64(r.events) / r.wall.Seconds() }

func (r result) perCPU() float64 {
	if r.cpu <= 0 {
		return 0
	}
	return float64(r.events) / r.cpu.Seconds()
}

// runRaw runs the raw pipe in a child process.
func (b *bench) runRaw(ctx context.Context, in string, round int) (result, error) {
	out := b.topic(fmt.Sprintf("raw%d", round))
	if err := b.createTopics(ctx, b.o.partitions, out); err != nil {
		return result{}, err
	}
	defer b.deleteTopics(ctx, out)
	r, err := b.child(ctx, fmt.Sprintf("raw-%d", round), b.self, "rawpipe", "-brokers", strings.Join(b.o.brokers, ","),
		"-in", in, "-out", out, "-pipes", fmt.Sprint(b.o.parallelism))
	if err != nil {
		return r, err
	}
	r.name, r.round, r.events = "raw", round, b.o.events
	if r.output, err = b.records(ctx, out); err != nil {
		return r, err
	}
	if r.output != b.o.events {
		return r, fmt.Errorf("the raw pipe wrote %d records, want %d", r.output, b.o.events)
	}
	return r, nil
}

// runQuery runs query q with stop_at: end in a child process and checks
// its output.
func (b *bench) runQuery(ctx context.Context, q, in string, round int, ref *reference.Result) (result, error) {
	name := b.topic(fmt.Sprintf("%s-%d", q, round))
	out, dlq := name+"-out", name+"-dead-letters"
	if err := b.createTopics(ctx, b.o.partitions, out); err != nil {
		return result{}, err
	}
	if err := b.createTopics(ctx, 1, dlq); err != nil {
		return result{}, err
	}
	defer b.deleteTopics(ctx, out, dlq)
	src, err := harness.ReadConfig(b.o.root, q)
	if err != nil {
		return result{}, err
	}
	off := ""
	dir := filepath.Join(b.o.dir, name)
	cfg, err := harness.Rewrite(src, harness.Overrides{
		JobName: name, Parallelism: b.o.parallelism, Brokers: b.o.brokers, Topic: in, StopAtEnd: true,
		Output: out, DeadLetter: dlq, Checkpoint: "file://" + filepath.Join(dir, "checkpoints"),
		StateDir: filepath.Join(dir, "state"), HTTPListen: &off, LogLevel: "warn",
	})
	if err != nil {
		return result{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	path := filepath.Join(dir, q+".yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		return result{}, err
	}
	args := []string{"run", "--config", path}
	if b.o.cpuProfile != "" {
		if err := os.MkdirAll(b.o.cpuProfile, 0o755); err != nil {
			return result{}, fmt.Errorf("-cpuprofile: %w", err)
		}
		args = append(args, "--cpuprofile", filepath.Join(b.o.cpuProfile, fmt.Sprintf("%s-%d.pprof", q, round)))
	}
	r, err := b.child(ctx, name, b.o.processor, args...)
	if err != nil {
		return r, err
	}
	r.name, r.round, r.events = q, round, b.o.events
	dead, err := harness.ReadTopic(ctx, b.o.brokers, dlq)
	if err != nil {
		return r, err
	}
	if len(dead) > 0 {
		return r, fmt.Errorf("%d dead letters, the first: %s", len(dead), describeDead(dead[0]))
	}
	recs, err := harness.ReadTopic(ctx, b.o.brokers, out)
	if err != nil {
		return r, err
	}
	r.output = int64(len(recs))
	if ref != nil {
		if err := ref.Check(harness.ToReference(recs)); err != nil {
			return r, err
		}
		r.checked = " (equal to the reference)"
	}
	if !b.o.keep {
		_ = os.RemoveAll(dir)
	}
	return r, nil
}

func describeDead(r *kgo.Record) string {
	var hs []string
	for _, h := range r.Headers {
		if strings.HasPrefix(h.Key, "tidemark.") {
			hs = append(hs, h.Key+"="+string(h.Value))
		}
	}
	return fmt.Sprintf("%s: %.200s", strings.Join(hs, " "), r.Value)
}

// child runs a command to its end and returns its wall and CPU time; its
// output goes to <dir>/<name>.log, whose tail a failure shows.
func (b *bench) child(ctx context.Context, name, bin string, args ...string) (result, error) {
	logPath := filepath.Join(b.o.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return result{}, err
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		log, _ := os.ReadFile(logPath)
		if ctx.Err() != nil {
			err = fmt.Errorf("not done after %s: %w", b.o.timeout, err)
		}
		return result{}, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, tail(string(log), 30))
	}
	return result{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

// records is the number of records in topic (its end offsets: for a
// non-transactional topic, its record count).
func (b *bench) records(ctx context.Context, topic string) (int64, error) {
	ends, err := b.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n, nil
}

func (b *bench) topic(s string) string { return "nexmarkbench-" + b.runID + "-" + s }

// createTopics creates the run's topics, keeping their records for ever:
// output records carry their event time, which the generator puts in
// 2025, and the broker's time-based retention would delete them mid-run.
func (b *bench) createTopics(ctx context.Context, partitions int, names ...string) error {
	forever := "-1"
	resp, err := b.adm.CreateTopics(ctx, int32(partitions), 1, map[string]*string{"retention.ms": &forever}, names...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("create topics %v: %w", names, err)
	}
	b.topics = append(b.topics, names...)
	return nil
}

func (b *bench) deleteTopics(ctx context.Context, names ...string) {
	if b.o.keep {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if _, err := b.adm.DeleteTopics(ctx, names...); err != nil {
		b.progress("warning: delete topics %v: %v", names, err)
	}
	b.topics = slices.DeleteFunc(b.topics, func(t string) bool { return slices.Contains(names, t) })
}

func (b *bench) cleanup(ctx context.Context) {
	if len(b.topics) > 0 {
		b.deleteTopics(ctx, b.topics...)
	}
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// findRoot returns the nearest directory at or above the working
// directory that holds go.mod and configs/nexmark.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "configs", "nexmark")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no repository root (go.mod and configs/nexmark) at or above the working directory: give -root")
		}
		dir = parent
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
