package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

type options struct {
	sizes       []int64
	checkpoints int
	warmup      int
	update      float64
	valueSize   int
	parallelism int
	pause       time.Duration
	timeout     time.Duration
	dir         string
	keep        bool
	verbose     bool
	markdown    bool
	each        bool
	seed        uint64
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ckptbench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	var sizes, backends string
	fs := flag.NewFlagSet("ckptbench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ckptbench [flags]\n\nMeasures incremental checkpoints of a real job against a plain full copy of its state.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&sizes, "sizes", "10MB,100MB,1GB", "state sizes (keys × value size), comma-separated; KB, MB, GB are powers of 1024")
	fs.StringVar(&backends, "backends", "", "storage backends, comma-separated: file, s3 (default: file, and s3 if "+envS3Endpoint+" is set)")
	fs.IntVar(&o.checkpoints, "checkpoints", 20, "incremental checkpoints measured per case")
	fs.IntVar(&o.warmup, "warmup", 3, "incremental checkpoints taken and dropped before the measured ones")
	fs.Float64Var(&o.update, "update", 0.01, "share of the keys updated between two checkpoints")
	fs.IntVar(&o.valueSize, "value", 256, "value size in bytes (random, incompressible)")
	fs.IntVar(&o.parallelism, "parallelism", 2, "keyed tasks (one Pebble database each)")
	fs.DurationVar(&o.pause, "pause", 250*time.Millisecond, "checkpoint interval and minimum pause between checkpoints")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "checkpoint timeout")
	fs.StringVar(&o.dir, "dir", "", "directory for state and the file store (default: a new temporary directory, removed afterwards)")
	fs.BoolVar(&o.keep, "keep", false, "keep state and stored checkpoints")
	fs.BoolVar(&o.verbose, "v", false, "log the job (zap, info level) to stderr")
	fs.BoolVar(&o.markdown, "markdown", false, "print the tables as Markdown")
	fs.BoolVar(&o.each, "each", false, "also print every measured checkpoint")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated keys and values")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for s := range strings.SplitSeq(sizes, ",") {
		n, err := parseSize(s)
		if err != nil {
			return fmt.Errorf("-sizes: %w", err)
		}
		o.sizes = append(o.sizes, n)
	}
	switch {
	case o.checkpoints < 1:
		return errors.New("-checkpoints: at least 1")
	case o.warmup < 0:
		return errors.New("-warmup: not negative")
	case o.warmup+o.checkpoints > 90:
		return errors.New("-warmup plus -checkpoints: at most 90 (the coordinator keeps the statistics of 100)")
	case o.update <= 0 || o.update > 1:
		return errors.New("-update: a share in (0, 1]")
	case o.valueSize < 1:
		return errors.New("-value: at least 1 byte")
	case o.parallelism < 1 || o.parallelism > 128:
		return errors.New("-parallelism: 1 to 128")
	case o.pause <= 0:
		return errors.New("-pause: positive")
	}
	for _, n := range o.sizes {
		if n/int64(o.valueSize) < int64(o.parallelism) {
			return fmt.Errorf("-sizes: %s holds fewer keys than tasks", sizeLabel(n))
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if backends == "" {
		backends = "file"
		if s3Available() {
			backends = "file,s3"
		}
	}
	if o.dir == "" {
		dir, err := os.MkdirTemp("", "ckptbench-")
		if err != nil {
			return err
		}
		o.dir = dir
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	var bes []backend
	for name := range strings.SplitSeq(backends, ",") {
		switch strings.TrimSpace(name) {
		case "file":
			bes = append(bes, fileBackend(o.dir+"/store"))
		case "s3":
			if !s3Available() {
				return fmt.Errorf("-backends s3: %s is not set; start the server and eval \"$(bash integration/services.sh env)\"", envS3Endpoint)
			}
			be, err := s3Backend(ctx)
			if err != nil {
				return err
			}
			bes = append(bes, be)
		default:
			return fmt.Errorf("-backends: unknown backend %q (want file or s3)", name)
		}
	}

	log := zap.NewNop()
	if o.verbose {
		cfg := zap.NewDevelopmentConfig()
		cfg.Level = zap.NewAtomicLevelAt(zapcore.InfoLevel)
		l, err := cfg.Build()
		if err != nil {
			return err
		}
		log = l
	}
	defer func() { _ = log.Sync() }()

	host, _ := os.Hostname()
	fmt.Printf("ckptbench: %s, %s/%s, %d CPUs (GOMAXPROCS %d), host %s, %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), host, time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("job: 1 generating source, %d keyed tasks, %d B random values; %d warm-up + %d measured checkpoints, %.2g %% of the keys updated between two, pause %s\n",
		o.parallelism, o.valueSize, o.warmup, o.checkpoints, 100*o.update, o.pause)
	for _, be := range bes {
		fmt.Printf("store %s: %s\n", be.name, be.where)
	}

	var results []result
	start := time.Now()
	for _, size := range o.sizes {
		for _, be := range bes {
			r, err := runCase(ctx, o, be, size, log)
			if err != nil {
				return fmt.Errorf("%s %s: %w", be.name, sizeLabel(size), err)
			}
			results = append(results, r)
		}
	}
	report(os.Stdout, o, results)
	fmt.Printf("\ntotal run time %s\n", time.Since(start).Round(time.Second))
	return nil
}

// parseSize parses "10MB", "1GB", "512KiB", "4096"; units are powers of
// 1024.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num := strings.TrimRightFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	unit := strings.ToUpper(strings.TrimSpace(s[len(num):]))
	mult := map[string]float64{"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
		"M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30}[unit]
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || f <= 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 10MB, 1GB)", s)
	}
	return int64(f * mult), nil
}

// sizeLabel names a size for humans and store keys: "10MiB", "1GiB".
func sizeLabel(n int64) string {
	for _, u := range []struct {
		s string
		n int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
