package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tidemark/tidemark/nexmark"
)

// runNexmark runs `processor nexmark ARGS…`.
func runNexmark(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"nexmark"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestNexmarkGenerate(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := strings.Join(c.ListenAddrs(), ",")
	args := []string{"generate", "--brokers", brokers, "--topic", "nx", "--partitions", "2",
		"--events", "5000", "--seed", "9", "--base-time", "2024-02-29T12:00:00Z", "--quiet"}
	code, out, errOut := runNexmark(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{
		"wrote 5000 events to topic nx (created, 2 partitions): 100 persons, 300 auctions, 4600 bids",
		"event time 2024-02-29 12:00:00.000 … 2024-02-29 12:00:00.500 UTC (seed 9, rate 10000/s, out-of-order group 1, proportions 1:3:46)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	digest := regexp.MustCompile(`digest xxh64:[0-9a-f]{16}`).FindString(out)
	if digest == "" {
		t.Fatalf("no digest in:\n%s", out)
	}

	// The topic holds the library's events for the same flags.
	cfg := nexmark.DefaultConfig()
	cfg.Seed, cfg.BaseTime = 9, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC).UnixMilli()
	g, err := nexmark.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("nx"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n := 0; n < 5000; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 5000", n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			i := r.Offset*2 + int64(r.Partition)
			if want := g.AppendEventJSON(nil, i); !bytes.Equal(r.Value, want) {
				t.Fatalf("partition %d offset %d: %s, want event %d %s", r.Partition, r.Offset, r.Value, i, want)
			}
		})
	}

	// The same flags again: refused (the topic holds records) unless
	// appending; a new topic gets the same digest.
	code, _, errOut = runNexmark(t, args...)
	if code != 1 || !strings.Contains(errOut, "topic nx already holds 5000 records") {
		t.Errorf("second run: exit %d, %s", code, errOut)
	}
	args[4] = "nx2"
	code, out, errOut = runNexmark(t, args...)
	if code != 0 || !strings.Contains(out, digest) {
		t.Errorf("same flags into a new topic: exit %d, %s%s; want %s", code, out, errOut, digest)
	}
}

func TestNexmarkUsage(t *testing.T) {
	for _, args := range [][]string{
		{"generate"},
		{"generate", "--events", "10", "--emit", "fast"},
		{"generate", "--events", "10", "--base-time", "yesterday"},
		{"generate", "--events", "10", "--proportions", "1:3"},
		{"generate", "--events", "10", "--rate", "0"},
		{"generate", "--events", "10", "extra"},
		{"generate", "--events", "ten"},
		{"nope"},
	} {
		code, _, errOut := runNexmark(t, args...)
		if code != 2 || !strings.Contains(errOut, "Run 'processor nexmark") {
			t.Errorf("%v: exit %d, %q; want 2 and a usage hint", args, code, errOut)
		}
	}
}
