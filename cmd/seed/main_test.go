package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/sampledata"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSeedOrders loads configs/orders.yaml's sample into its embedded
// broker's data, with no processor running: every line of both files is
// in its topic afterwards, in file order per key, and a second run leaves
// the topics alone.
func TestSeedOrders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := config.Load("../../configs/orders.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.State.Dir = t.TempDir()
	var out bytes.Buffer
	if err := seed(ctx, &cfg, "../../configs/data", false, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "orders: wrote 15 records") || !strings.Contains(out.String(), "payments: wrote 10 records") {
		t.Errorf("first run printed %q", out.String())
	}
	out.Reset()
	if err := seed(ctx, &cfg, "../../configs/data", false, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "left alone") != 2 {
		t.Errorf("second run printed %q", out.String())
	}

	b, err := embedded.Start(ctx, embedded.Options{DataDir: filepath.Join(cfg.State.Dir, "embedded-kafka")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	for _, topic := range []string{"orders", "payments"} {
		want, err := sampledata.Read(sampledata.Path("../../configs/data", topic))
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(ctx, t, b.Addrs(), topic, len(want))
		if len(got) != len(want) {
			t.Fatalf("%s holds %d records, want %d", topic, len(got), len(want))
		}
		// Per key, the file's order.
		perKey := func(recs []sampledata.Record) map[string][]string {
			m := map[string][]string{}
			for _, r := range recs {
				m[string(r.Key)] = append(m[string(r.Key)], string(r.Value))
			}
			return m
		}
		g, w := perKey(got), perKey(want)
		for k, vs := range w {
			if strings.Join(g[k], "\n") != strings.Join(vs, "\n") {
				t.Errorf("%s key %s: %q, want %q", topic, k, g[k], vs)
			}
		}
	}
	for _, topic := range []string{"orders-paid", "orders-dead-letters"} {
		if n := len(readAll(ctx, t, b.Addrs(), topic, 0)); n != 0 {
			t.Errorf("%s created with %d records", topic, n)
		}
	}
}

func TestSeedUsageAndMissingFile(t *testing.T) {
	ctx := context.Background()
	if err := run(ctx, nil, &bytes.Buffer{}); err != errUsage {
		t.Errorf("no flags: %v", err)
	}
	cfg, err := config.Load("../../configs/orders.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.State.Dir = t.TempDir()
	err = seed(ctx, &cfg, t.TempDir(), false, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "topic orders") || !strings.Contains(err.Error(), "orders.txt does not exist") {
		t.Errorf("missing sample file: %v", err)
	}
}

// readAll reads topic from the start until it holds want records (0: until
// its end offsets, which must then be reached at once).
func readAll(ctx context.Context, t *testing.T, brokers []string, topic string, want int) []sampledata.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	held, err := sampledata.Held(ctx, cl, topic)
	if err != nil {
		t.Fatal(err)
	}
	if want == 0 {
		if held[topic] != 0 {
			t.Fatalf("%s holds %d records", topic, held[topic])
		}
		return nil
	}
	var got []sampledata.Record
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d of %d records in time", topic, len(got), want)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("consume %s[%d]: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, sampledata.Record{Key: r.Key, Value: r.Value}) })
	}
	return got
}
