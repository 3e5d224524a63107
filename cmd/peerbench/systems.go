package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// system is one of the systems measured.
type system struct {
	name     string
	label    string
	describe string // version and settings, printed at the start
	// command is the command line of an instance that reads in and writes
	// out; id names the instance (its consumer group, transactional ids,
	// job name: the same across a restart), dir is its work directory
	// (state, checkpoints), restore says it restarts on the state of an
	// earlier instance. readyURL, when set, answers 200 once the
	// instance is ready; otherwise it prints readyLine.
	command func(id, in, out, dir string, restore bool) (args []string, readyURL string, err error)
	// topics are the topics an instance creates itself (a prefix ending
	// in "*"), deleted after its run.
	topics func(id string) []string
}

// readyLine is what the raw pipe, Flink and Kafka Streams print to
// standard output once their state is restored and they are about to read.
const readyLine = "peerbench: ready"

var labels = map[string]string{
	"raw":      "raw franz-go pipe, transactions every interval",
	"tidemark": "Tidemark (processor, count, exactly once)",
	"flink":    "Apache Flink (DataStream, RocksDB, exactly once)",
	"kstreams": "Kafka Streams (exactly_once_v2, RocksDB)",
}

// flinkJVMOpts are the --add-opens and --add-exports Flink's own scripts
// give Java 17.
var flinkJVMOpts = []string{
	"-XX:+IgnoreUnrecognizedVMOptions",
	"--add-exports=java.base/sun.net.util=ALL-UNNAMED",
	"--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
	"--add-opens=java.base/java.lang=ALL-UNNAMED",
	"--add-opens=java.base/java.net=ALL-UNNAMED",
	"--add-opens=java.base/java.io=ALL-UNNAMED",
	"--add-opens=java.base/java.nio=ALL-UNNAMED",
	"--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
	"--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
	"--add-opens=java.base/java.text=ALL-UNNAMED",
	"--add-opens=java.base/java.time=ALL-UNNAMED",
	"--add-opens=java.base/java.util=ALL-UNNAMED",
	"--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
	"--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
	"--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
}

// setupSystems prepares the systems of o.systems: builds the processor
// binary unless given, and finds the Maven project's classes.
func (e *env) setupSystems(ctx context.Context) error {
	o := e.o
	e.sys = map[string]*system{}
	interval := fmt.Sprint(o.interval.Milliseconds())
	for _, name := range o.systems {
		s := &system{name: name, label: labels[name], topics: func(string) []string { return nil }}
		switch name {
		case "raw":
			self, err := os.Executable()
			if err != nil {
				return err
			}
			s.describe = fmt.Sprintf("%d franz-go pipes (this binary, `peerbench rawpipe`), count in a Go map, transactions committed every %s, restore from its own output", o.parallelism, o.interval)
			s.command = func(id, in, out, _ string, _ bool) ([]string, string, error) {
				return []string{self, "rawpipe", "-brokers", strings.Join(o.brokers, ","), "-in", in, "-out", out,
					"-pipes", fmt.Sprint(o.parallelism), "-interval", o.interval.String(), "-id", id}, "", nil
			}
		case "tidemark":
			bin := o.processor
			if bin == "" {
				bin = filepath.Join(o.dir, "processor")
				progress("building the processor: go build -o %s ./cmd/processor", bin)
				cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/tidemark/tidemark/cmd/processor")
				cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
				if err := cmd.Run(); err != nil {
					return fmt.Errorf("build the processor (or give -processor): %w", err)
				}
			}
			if _, err := os.Stat(bin); err != nil {
				return fmt.Errorf("-processor: %w", err)
			}
			// Instances run in their own directories.
			var err error
			if bin, err = filepath.Abs(bin); err != nil {
				return err
			}
			s.describe = fmt.Sprintf("processor %s%s: pipeline count, sink.delivery and checkpoint.mode exactly_once, checkpoint.interval %s, job.parallelism %d, file:// checkpoints, Pebble state", bin, gitRev(ctx), o.interval, o.parallelism)
			s.command = func(id, in, out, dir string, restore bool) ([]string, string, error) {
				port, err := freePort()
				if err != nil {
					return nil, "", err
				}
				listen := fmt.Sprintf("127.0.0.1:%d", port)
				path := filepath.Join(dir, "tidemark.yaml")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return nil, "", err
				}
				if err := os.WriteFile(path, []byte(tidemarkConfig(o, id, in, out, dir, listen)), 0o644); err != nil {
					return nil, "", err
				}
				args := []string{bin, "run", "--config", path}
				if o.profile != "" && !restore {
					dir, err := filepath.Abs(o.profile)
					if err != nil {
						return nil, "", err
					}
					args = append(args, "--cpuprofile", filepath.Join(dir, "tidemark-"+id+".pprof"),
						"--memprofile", filepath.Join(dir, "tidemark-"+id+"-heap.pprof"))
				}
				return args, "http://" + listen + "/readyz", nil
			}
		case "flink", "kstreams":
			module, main := "flink", "dev.tidemark.peers.FlinkCount"
			if name == "kstreams" {
				module, main = "kstreams", "dev.tidemark.peers.StreamsCount"
			}
			base := filepath.Join(o.peersDir, module, "target")
			cp, err := os.ReadFile(filepath.Join(base, "classpath.txt"))
			if err != nil {
				return fmt.Errorf("%s: %w (build the Maven project first: mvn -f %s package, or make bench-peers)", name, err, filepath.Join(o.peersDir, "pom.xml"))
			}
			classes, err := filepath.Abs(filepath.Join(base, "classes"))
			if err != nil {
				return err
			}
			classpath := classes + string(os.PathListSeparator) + strings.TrimSpace(string(cp))
			java := []string{o.java}
			if name == "flink" {
				java = append(java, flinkJVMOpts...)
				s.describe = fmt.Sprintf("Apache Flink %s (%s), flink-connector-kafka %s: KafkaSource read_committed, keyBy, ValueState count in RocksDB, KafkaSink EXACTLY_ONCE, incremental checkpoints every %s to a local directory, MiniCluster, parallelism %d",
					jarVersion(string(cp), "flink-streaming-java"), javaVersion(ctx, o.java), jarVersion(string(cp), "flink-connector-kafka"), o.interval, o.parallelism)
			} else {
				s.describe = fmt.Sprintf("Kafka Streams %s (%s): exactly_once_v2, commit.interval.ms %s, statestore.cache.max.bytes 0, RocksDB KeyValueStore count, %d stream threads",
					jarVersion(string(cp), "kafka-streams"), javaVersion(ctx, o.java), interval, o.parallelism)
				s.topics = func(id string) []string { return []string{id + "-*"} }
			}
			s.command = func(id, in, out, dir string, restore bool) ([]string, string, error) {
				args := append(java, "-cp", classpath, main, "--brokers", strings.Join(o.brokers, ","), "--in", in, "--out", out,
					"--dir", dir, "--id", id, "--interval-ms", interval)
				if name == "flink" {
					args = append(args, "--parallelism", fmt.Sprint(o.parallelism))
				} else {
					args = append(args, "--threads", fmt.Sprint(o.parallelism))
				}
				if restore {
					args = append(args, "--restore")
				}
				return args, "", nil
			}
		}
		e.sys[name] = s
	}
	return nil
}

// tidemarkConfig is the processor's configuration: the count pipeline,
// exactly once, as cmd/pipebench's variant (c).
func tidemarkConfig(o options, id, in, out, dir, listen string) string {
	return fmt.Sprintf(`# Written by cmd/peerbench.
job:
  name: %q
  parallelism: %d
kafka:
  brokers: [%s]
source:
  topics: [%q]
  start_offset: earliest
pipeline:
  operators:
    - type: count
sink:
  topic: %q
  delivery: exactly_once
checkpoint:
  storage: %q
  interval: %s
  mode: exactly_once
state:
  dir: %q
http:
  listen: %q
log:
  level: warn
  format: console
`, id, o.parallelism, strings.Join(quoteAll(o.brokers), ", "), in, out, "file://"+filepath.Join(dir, "checkpoints"),
		o.interval, filepath.Join(dir, "state"), listen)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// freePort is a loopback TCP port free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// jarVersion finds artifact's version in a classpath of Maven jars.
func jarVersion(classpath, artifact string) string {
	for _, p := range strings.Split(classpath, string(os.PathListSeparator)) {
		base := filepath.Base(p)
		if v, ok := strings.CutPrefix(base, artifact+"-"); ok && strings.HasSuffix(v, ".jar") {
			return strings.TrimSuffix(v, ".jar")
		}
	}
	return "?"
}

// javaVersion is the first line of `java -version`.
func javaVersion(ctx context.Context, java string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, java, "-version").CombinedOutput()
	if err != nil {
		return "java ?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(line)
}

// gitRev is " (commit <short hash>)" of the working tree, or "".
func gitRev(ctx context.Context) string {
	b, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	return " (commit " + strings.TrimSpace(string(b)) + ")"
}
