package integration

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/integration/testenv"
	"github.com/tidemark/tidemark/nexmark"
)

// TestNexmarkGenerate writes Nexmark events to the real broker with
// nexmark.Write (creating the topic) and reads every record back: event n
// at partition n mod 4, offset n div 4, byte-identical to the in-memory
// generator, readable by ParseJSON, with a wall-clock timestamp. It logs
// the generator's throughput. TIDEMARK_NEXMARK_EVENTS overrides the
// number of events (default 500,000).
func TestNexmarkGenerate(t *testing.T) {
	k := testenv.Kafka(t)
	events := int64(500_000)
	if s := os.Getenv("TIDEMARK_NEXMARK_EVENTS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			t.Fatalf("TIDEMARK_NEXMARK_EVENTS=%q: want a positive number", s)
		}
		events = n
	}
	const parts = 4
	topic := testenv.UniqueName(t, "nexmark")
	adm := k.Admin(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("keeping topic %s of a failed test", topic)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adm.DeleteTopic(ctx, topic); err != nil {
			t.Logf("deleting topic %s: %v", topic, err)
		}
	})

	cfg := nexmark.DefaultConfig()
	cfg.Seed = 2025
	gen, err := nexmark.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	before := time.Now().Add(-time.Second)
	st, err := nexmark.Write(ctx, gen, nexmark.WriteOptions{
		Topic: topic, Partitions: parts, Events: events, Kafka: []kgo.Opt{kgo.SeedBrokers(k.Brokers...)},
	})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	t.Logf("wrote %d events (%.1f MB) to %s in %v: %.0f events/s, %.1f MB/s",
		st.Events, float64(st.Bytes)/1e6, topic, st.Elapsed, st.EventsPerSecond(), float64(st.Bytes)/1e6/st.Elapsed.Seconds())
	if !st.Created || st.Partitions != parts || st.Events != events {
		t.Fatalf("stats %+v", st)
	}

	// Read everything back, read_committed like the processor.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != events {
		t.Fatalf("topic holds %d records, want %d", total, events)
	}
	cl := k.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	check := gen.Clone()
	var buf []byte
	for n := int64(0); n < events; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", n, events, err)
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("fetch: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			i := r.Offset*parts + int64(r.Partition)
			buf = check.AppendEventJSON(buf[:0], i)
			if !bytes.Equal(r.Value, buf) {
				t.Fatalf("partition %d offset %d: %s, want event %d: %s", r.Partition, r.Offset, r.Value, i, buf)
			}
			if r.Key != nil || r.Timestamp.Before(before) || r.Timestamp.After(after) {
				t.Fatalf("partition %d offset %d: key %q, timestamp %v (write ran %v … %v)", r.Partition, r.Offset, r.Key, r.Timestamp, before, after)
			}
			if i%997 == 0 {
				ev, err := nexmark.ParseJSON(r.Value)
				if err != nil || !reflect.DeepEqual(ev, check.Event(i)) {
					t.Fatalf("event %d: ParseJSON = %+v, %v", i, ev, err)
				}
			}
		})
	}
}
