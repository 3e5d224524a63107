package testenv

import (
	"context"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaEnv describes a running Kafka cluster.
type KafkaEnv struct {
	// Brokers are the bootstrap addresses (host:port).
	Brokers []string
}

// Kafka returns the test Kafka cluster, starting it on first use. The test
// fails if Kafka cannot be had.
func Kafka(t testing.TB) KafkaEnv {
	t.Helper()
	h := getHarness(t)
	vars, err := h.get(&h.kafka, "kafka", kafkaFromEnv, func(v map[string]string) error {
		return dialCheck(splitBrokers(v[EnvKafkaBrokers])...)
	})
	if err != nil {
		t.Fatalf("testenv: Kafka is not available: %v", err)
	}
	return KafkaEnv{Brokers: splitBrokers(vars[EnvKafkaBrokers])}
}

func kafkaFromEnv() (map[string]string, error) {
	b := strings.TrimSpace(os.Getenv(EnvKafkaBrokers))
	if b == "" {
		return nil, nil
	}
	return map[string]string{EnvKafkaBrokers: b}, nil
}

func splitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Client returns a kgo client seeded with the brokers and configured with
// opts; it is closed when the test ends.
func (e KafkaEnv) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.Brokers...)}, opts...)...)
	if err != nil {
		t.Fatalf("testenv: kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client for the cluster; it is closed when the test
// ends.
func (e KafkaEnv) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(e.Client(t))
}

// CreateTopic creates a topic with a name unique to this test and returns
// the name. configs may be nil. The topic is deleted when the test ends,
// unless the test failed (to leave it for inspection). It keeps its
// records for ever (retention.ms -1) unless configs say otherwise: output
// records carry their event time, and the Nexmark generator's lies in
// 2025, so with the broker's time-based retention the broker deleted a
// test's output while the test ran (TestNexmarkRestore/q1, CI
// 2026-11-29: "Deleting segment ... due to log retention time breach").
func (e KafkaEnv) CreateTopic(t testing.TB, partitions int32, configs map[string]*string) string {
	t.Helper()
	if _, ok := configs["retention.ms"]; !ok {
		configs = maps.Clone(configs)
		if configs == nil {
			configs = map[string]*string{}
		}
		forever := "-1"
		configs["retention.ms"] = &forever
	}
	name := UniqueName(t, "tm")
	adm := e.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("testenv: creating topic %s: %v", name, err)
	}
	// Wait until the broker serves the topic's metadata with leaders, so
	// the test's first request does not race topic creation.
	for {
		md, err := adm.Metadata(ctx, name)
		if err == nil {
			if td, ok := md.Topics[name]; ok && td.Err == nil && len(td.Partitions) == int(partitions) && allLeaders(td) {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: topic %s created but its metadata is not ready: %v", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: keeping topic %s of a failed test", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Cleanups run last-in first-out: adm is still open here.
		if _, err := adm.DeleteTopic(ctx, name); err != nil {
			t.Logf("testenv: deleting topic %s: %v", name, err)
		}
	})
	return name
}

func allLeaders(td kadm.TopicDetail) bool {
	for _, p := range td.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}
