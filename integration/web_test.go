package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3Keys lists the keys under prefix (relative to the job's root) in the
// chaos job's checkpoint storage.
func (j *chaosJob) s3Keys(ctx context.Context, prefix string) []string {
	j.t.Helper()
	root := j.prefix + "/" + j.name + "/"
	out, err := j.s3.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(j.s3.Bucket), Prefix: aws.String(root + prefix)})
	if err != nil {
		j.t.Fatalf("list %s: %v", prefix, err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), root))
	}
	return keys
}

// TestSavepointPolicyOnRealServices: a processor listening beyond loopback
// with a token (from TIDEMARK_HTTP_TOKEN) refuses a savepoint without it;
// `processor savepoint` sends it, and waits out the rate limit
// (savepoints.min_interval) for a second savepoint; with
// savepoints.retained 1 the first savepoint is deleted once the second is
// written; a partial savepoint left in S3 is deleted at start; and
// GET /api/v1/sources reports every input partition's lag.
func TestSavepointPolicyOnRealServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const token = "integration-token-0123456789abcdef"
	j := newChaosJob(t)
	local := freeAddr(t)
	_, port, _ := net.SplitHostPort(local)
	data, err := os.ReadFile(j.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(data), "http:\n  listen: \"\"\n", "http:\n  listen: \"0.0.0.0:"+port+"\"\n", 1)
	cfg += "savepoints:\n  retained: 1\n  min_interval: 4s\n"
	if err := os.WriteFile(j.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	partial := j.prefix + "/" + j.name + "/savepoints/crashed/keyed-0/000001.sst"
	if _, err := j.s3.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(j.s3.Bucket), Key: aws.String(partial), Body: strings.NewReader("half a copy")}); err != nil {
		t.Fatal(err)
	}
	prod := j.produce(ctx, 16, 300)
	defer prod.stop()
	env := []string{"TIDEMARK_HTTP_TOKEN=" + token}
	p := j.startArgs(j.config, env)
	defer j.stop(ctx, p)
	j.waitRunning(ctx, p)
	waitFor(ctx, t, p, "ready", func() bool { code, _ := readyz(local); return code == http.StatusOK })

	url := "http://" + local + "/api/v1/savepoints"
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"name": "no-token"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("savepoint without the token: %s", resp.Status)
	}
	waitFor(ctx, t, p, "the partial savepoint deleted", func() bool { return len(j.s3Keys(ctx, "savepoints/crashed/")) == 0 })

	savepoint := func(name string) (string, time.Duration) {
		t.Helper()
		start := time.Now()
		cmd := exec.CommandContext(ctx, j.bin, "savepoint", "--config", j.config, "--name", name, "--timeout", "60s")
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("processor savepoint --name %s: %v\n%s", name, err, out.String())
		}
		return out.String(), time.Since(start)
	}
	out1, _ := savepoint("first")
	out2, took := savepoint("second")
	if !strings.Contains(out2, "asking again") || !strings.Contains(out2, "savepoints/second/") {
		t.Errorf("second savepoint right after the first: %s", out2)
	}
	t.Logf("first: %s; second (rate-limited, %s): %s", strings.TrimSpace(out1), took.Round(time.Millisecond), strings.TrimSpace(out2))
	waitFor(ctx, t, p, "the first savepoint expired", func() bool { return len(j.s3Keys(ctx, "savepoints/first/")) == 0 })
	if keys := j.s3Keys(ctx, "savepoints/second/_metadata"); len(keys) != 1 {
		t.Errorf("the newest savepoint is gone: %v", keys)
	}

	var src struct {
		Sources []struct {
			Lag        *int64 `json:"lag"`
			Partitions []struct {
				Offset    int64  `json:"offset"`
				EndOffset *int64 `json:"end_offset"`
			} `json:"partitions"`
		} `json:"sources"`
		Error string `json:"end_offsets_error"`
	}
	code, body := httpGet("http://" + local + "/api/v1/sources")
	if err := json.Unmarshal([]byte(body), &src); code != http.StatusOK || err != nil || len(src.Sources) != 1 || src.Error != "" {
		t.Fatalf("GET /api/v1/sources: %d %s", code, body)
	}
	if s := src.Sources[0]; s.Lag == nil || len(s.Partitions) != 4 {
		t.Fatalf("sources: %s", body)
	}
	for _, pt := range src.Sources[0].Partitions {
		if pt.EndOffset == nil || *pt.EndOffset < pt.Offset {
			t.Errorf("partition end offset below its position: %s", body)
		}
	}
}
