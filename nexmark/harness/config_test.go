package harness

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/nexmark/reference"
)

const root = "../.."

// config is the part of a query's configuration the checks read.
type config struct {
	Job struct {
		Name        string `yaml:"name"`
		Parallelism int    `yaml:"parallelism"`
	} `yaml:"job"`
	Kafka struct {
		Brokers []string `yaml:"brokers"`
	} `yaml:"kafka"`
	Sources []struct {
		Name      string   `yaml:"name"`
		Topics    []string `yaml:"topics"`
		Group     string   `yaml:"group"`
		StopAt    string   `yaml:"stop_at"`
		EventTime struct {
			Expr   string `yaml:"expr"`
			Format string `yaml:"format"`
		} `yaml:"event_time"`
		Watermark struct {
			MaxOutOfOrderness string `yaml:"max_out_of_orderness"`
		} `yaml:"watermark"`
	} `yaml:"sources"`
	Operators []struct {
		Name string `yaml:"name"`
		Type string `yaml:"type"`
		From any    `yaml:"from"`
	} `yaml:"operators"`
	Sinks []struct {
		Name  string `yaml:"name"`
		From  string `yaml:"from"`
		Topic string `yaml:"topic"`
		Mode  string `yaml:"mode"`
	} `yaml:"sinks"`
	DeadLetter struct {
		Topic string `yaml:"topic"`
	} `yaml:"dead_letter"`
	Output struct {
		Delivery           string `yaml:"delivery"`
		TransactionTimeout string `yaml:"transaction_timeout"`
	} `yaml:"output"`
	Checkpoint struct {
		Storage      string `yaml:"storage"`
		Interval     string `yaml:"interval"`
		LeaseTimeout string `yaml:"lease_timeout"`
	} `yaml:"checkpoint"`
	State struct {
		Dir string `yaml:"dir"`
	} `yaml:"state"`
	S3 struct {
		Endpoint  string `yaml:"endpoint"`
		Region    string `yaml:"region"`
		PathStyle bool   `yaml:"path_style"`
	} `yaml:"s3"`
	HTTP struct {
		Listen *string `yaml:"listen"`
	} `yaml:"http"`
	Log struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
}

func load(t *testing.T, data []byte) config {
	t.Helper()
	var c config
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConfigs checks the shape of every configs/nexmark query (the
// processor's validator checks the rest: integration/nexmark_test.go): one
// per reference query and no other, the SQL in its header, the suite's
// source (event time, 4 s watermark, bounded run), every from: naming an
// earlier source or operator, every operator read, and the sink's mode
// the reference's (upsert for the updating queries).
func TestConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "configs", "nexmark", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	want := slices.Clone(reference.Names)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("configs/nexmark holds %v, want one file per reference query %v", got, want)
	}
	for _, q := range reference.Names {
		t.Run(q, func(t *testing.T) {
			data, err := ReadConfig(root, q)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), "# Nexmark "+q+",") || !strings.Contains(string(data), "#   SELECT") {
				t.Errorf("the header does not state the SQL of %s", q)
			}
			c := load(t, data)
			if c.Job.Name != "nexmark-"+q {
				t.Errorf("job.name %q", c.Job.Name)
			}
			if len(c.Sources) != 1 {
				t.Fatalf("%d sources, want 1", len(c.Sources))
			}
			s := c.Sources[0]
			if s.StopAt != "end" || s.EventTime.Format != "sql" || s.Watermark.MaxOutOfOrderness != "3999ms" ||
				!strings.Contains(s.EventTime.Expr, "value.bid.dateTime") {
				t.Errorf("source %+v: want the suite's event time (sql dateTime), bound 3999ms, stop_at end", s)
			}
			defined := map[string]bool{s.Name: true}
			read := map[string]bool{}
			for i, op := range c.Operators {
				var from []string
				switch f := op.From.(type) {
				case string:
					from = []string{f}
				case []any:
					for _, x := range f {
						from = append(from, x.(string))
					}
				default:
					t.Fatalf("operators[%d] (%s): from %v", i, op.Name, op.From)
				}
				for _, f := range from {
					if !defined[f] {
						t.Errorf("operators[%d] (%s) reads %q, not defined before it", i, op.Name, f)
					}
					read[f] = true
				}
				if defined[op.Name] {
					t.Errorf("operators[%d]: name %q twice", i, op.Name)
				}
				defined[op.Name] = true
			}
			if len(c.Sinks) != 1 {
				t.Fatalf("%d sinks, want 1", len(c.Sinks))
			}
			sink := c.Sinks[0]
			read[sink.From] = true
			if !defined[sink.From] {
				t.Errorf("the sink reads %q, not defined", sink.From)
			}
			for name := range defined {
				if !read[name] {
					t.Errorf("%s is read by nothing", name)
				}
			}
			r, err := reference.Query(q, reference.Input{})
			if err != nil {
				t.Fatal(err)
			}
			if sink.Mode != r.Mode.String() {
				t.Errorf("sink mode %q, the reference's is %s", sink.Mode, r.Mode)
			}
			if c.Output.Delivery != "exactly_once" {
				t.Errorf("output.delivery %q", c.Output.Delivery)
			}
		})
	}
}

// TestRewrite sets every override on a query's configuration.
func TestRewrite(t *testing.T) {
	src, err := ReadConfig(root, "q5")
	if err != nil {
		t.Fatal(err)
	}
	listen := ""
	out, err := Rewrite(src, Overrides{
		JobName: "job-1", Parallelism: 3, Brokers: []string{"127.0.0.1:1", "127.0.0.1:2"},
		Topic: "in-1", Group: "g-1", Output: "out-1", DeadLetter: "dlq-1",
		TransactionTimeout: 2 * time.Minute, Checkpoint: "s3://b/p", Interval: 300 * time.Millisecond, LeaseTimeout: 3 * time.Second,
		StateDir: "/tmp/x y", S3: &S3{Endpoint: "http://127.0.0.1:9", Region: "us-east-1"},
		HTTPListen: &listen, LogLevel: "debug",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := load(t, out)
	s := c.Sources[0]
	switch {
	case c.Job.Name != "job-1" || c.Job.Parallelism != 3:
		t.Errorf("job %+v", c.Job)
	case !slices.Equal(c.Kafka.Brokers, []string{"127.0.0.1:1", "127.0.0.1:2"}):
		t.Errorf("brokers %v", c.Kafka.Brokers)
	case !slices.Equal(s.Topics, []string{"in-1"}) || s.Group != "g-1" || s.StopAt != "":
		t.Errorf("source %+v", s)
	case c.Sinks[0].Topic != "out-1" || c.Sinks[0].Mode != "append" || c.DeadLetter.Topic != "dlq-1":
		t.Errorf("sinks %+v, dead letters %+v", c.Sinks, c.DeadLetter)
	case c.Output.TransactionTimeout != "2m0s" || c.Output.Delivery != "exactly_once":
		t.Errorf("output %+v", c.Output)
	case c.Checkpoint.Storage != "s3://b/p" || c.Checkpoint.Interval != "300ms" || c.Checkpoint.LeaseTimeout != "3s" || c.State.Dir != "/tmp/x y":
		t.Errorf("checkpoint %+v, state %+v", c.Checkpoint, c.State)
	case c.S3.Endpoint != "http://127.0.0.1:9" || c.S3.Region != "us-east-1" || !c.S3.PathStyle:
		t.Errorf("s3 %+v", c.S3)
	case c.HTTP.Listen == nil || *c.HTTP.Listen != "" || c.Log.Level != "debug":
		t.Errorf("http %+v, log %+v", c.HTTP, c.Log)
	}
	if !strings.Contains(string(out), "# Nexmark q5, hot items") {
		t.Error("the comments are lost")
	}
	if len(c.Operators) != 5 || c.Operators[4].Name != "q5" {
		t.Errorf("operators changed: %+v", c.Operators)
	}

	// Bounded again, the other fields kept.
	out, err = Rewrite(out, Overrides{StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := load(t, out); c.Sources[0].StopAt != "end" || c.Sources[0].Group != "g-1" || c.Job.Name != "job-1" {
		t.Errorf("after a second rewrite: %+v", c)
	}

	for _, bad := range []string{"- a\n", "job: {name: x}\n", "sources: [{name: a}]\nsinks: [{name: a}, {name: b}]\n"} {
		if _, err := Rewrite([]byte(bad), Overrides{Output: "o"}); err == nil {
			t.Errorf("Rewrite(%q) accepted", bad)
		}
	}
	if _, err := os.Stat(ConfigPath(root, "q0")); err != nil {
		t.Error(err)
	}
}
