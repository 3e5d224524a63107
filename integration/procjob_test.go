package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/integration/testenv"
)

// Helpers for tests that run the processor binary on a job of their own
// making (the chaos job's process handling, another configuration).

// jobYAML is a processor configuration on the test services: pipeline is
// the YAML list under pipeline.operators ("" for none), sinkExtra more
// lines of the sink section, listen the HTTP address.
func jobYAML(t *testing.T, k testenv.KafkaEnv, s testenv.S3Env, dir, in, out, dlq, pipeline, sinkExtra, listen string) string {
	t.Helper()
	if pipeline == "" {
		pipeline = "[]"
	}
	return fmt.Sprintf(`job:
  name: %s
  parallelism: 2
kafka:
  brokers: [%s]
source:
  topics: [%s]
pipeline:
  operators: %s
sink:
  topic: %s
  dead_letter_topic: %s
  transaction_timeout: 2m
%scheckpoint:
  storage: s3://%s/%s
  interval: 300ms
  timeout: 30s
  retained: 2
state:
  dir: %s
s3:
  endpoint: %s
  region: %s
  path_style: true
http:
  listen: %q
log:
  level: info
  format: json
`, testenv.UniqueName(t, "job"), strings.Join(k.Brokers, ", "), in, pipeline, out, dlq, sinkExtra,
		s.Bucket, strings.TrimSuffix(s.Prefix(t), "/"), filepath.Join(dir, "state"), s.Endpoint, s.Region, listen)
}

// newJob is a chaosJob (for its process handling) running cfg.
func newJob(t *testing.T, dir, in, out, cfg string) *chaosJob {
	t.Helper()
	j := &chaosJob{t: t, kafka: testenv.Kafka(t), s3: testenv.S3(t), bin: processorBinary(t), dir: dir, in: in, out: out}
	j.config = filepath.Join(dir, "tidemark.yaml")
	if err := os.WriteFile(j.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return j
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// jobStatus is the part of GET /api/v1/job the tests read.
type jobStatus struct {
	State          string `json:"state"`
	Ready          bool   `json:"ready"`
	Reason         string `json:"reason"`
	Restarts       int    `json:"restarts"`
	FailuresInARow int    `json:"failures_in_a_row"`
	Progress       bool   `json:"progress"`
	LastFailure    *struct {
		Error string `json:"error"`
		Class string `json:"class"`
	} `json:"last_failure"`
}

// httpGet returns the status code and body of GET url ("" and 0 if the
// server does not answer).
func httpGet(url string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// status reads the processor's GET /api/v1/job.
func status(t *testing.T, addr string) (jobStatus, bool) {
	t.Helper()
	code, body := httpGet("http://" + addr + "/api/v1/job")
	var st jobStatus
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		return st, false
	}
	return st, true
}

// waitFor polls cond every 200 ms until it holds; it fails the test if p
// exits or ctx ends first.
func waitFor(ctx context.Context, t *testing.T, p *process, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("processor exited (%v) while waiting for %s:\n%s", err, what, p.tail(30))
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s:\n%s", what, p.tail(30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// readAll reads topic read_committed until nothing more comes for two
// seconds, at least want records arrived.
func readAll(ctx context.Context, t *testing.T, k testenv.KafkaEnv, topic string, want int) []*kgo.Record {
	t.Helper()
	cl := k.Client(t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []*kgo.Record
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(qctx)
		cancel()
		fs.EachError(func(tp string, p int32, err error) {
			if qctx.Err() == nil {
				t.Fatalf("consume %s[%d]: %v", tp, p, err)
			}
		})
		n := 0
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r); n++ })
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %d records, want %d: %v", topic, len(got), want, ctx.Err())
		}
		if n == 0 && len(got) >= want {
			return got
		}
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
