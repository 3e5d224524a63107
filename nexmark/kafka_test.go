package nexmark_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tidemark/tidemark/nexmark"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func cluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// readAll reads every record of topic, per partition in offset order.
func readAll(t *testing.T, brokers []string, topic string, want int) map[int32][]*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[int32][]*kgo.Record{}
	for n := 0; n < want; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records of %s: %v", n, want, topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], r)
			n++
		})
	}
	return out
}

// TestWriteLayout writes to a new topic and reads it back: event n in
// partition n mod P at offset n div P, no key, the value of AppendJSON,
// the wall clock as timestamp; a second run gives the same bytes.
func TestWriteLayout(t *testing.T) {
	brokers := cluster(t)
	g := newGen(t, nil)
	const events, parts = 10_000, 3
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	var progress int
	st, err := nexmark.Write(ctx, g, nexmark.WriteOptions{
		Topic: "nexmark", Partitions: parts, Events: events,
		Kafka: []kgo.Opt{kgo.SeedBrokers(brokers...)}, Progress: func(nexmark.Stats) { progress++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	if !st.Created || st.Partitions != parts || st.Events != events || st.Persons+st.Auctions+st.Bids != events {
		t.Errorf("stats %+v", st)
	}
	if st.MinEventTime != base || st.MaxEventTime != base+1000 {
		t.Errorf("event times %d…%d, want base…base+1000", st.MinEventTime-base, st.MaxEventTime-base)
	}
	got := readAll(t, brokers, "nexmark", events)
	var bytesWritten int64
	for n := int64(0); n < events; n++ {
		p := int32(n % parts)
		off := n / parts
		r := got[p][off]
		if r.Offset != off || r.Key != nil {
			t.Fatalf("event %d: partition %d offset %d key %q", n, p, r.Offset, r.Key)
		}
		if want := g.AppendEventJSON(nil, n); !bytes.Equal(r.Value, want) {
			t.Fatalf("event %d: value %s, want %s", n, r.Value, want)
		}
		if r.Timestamp.Before(before) || r.Timestamp.After(after) {
			t.Fatalf("event %d: record timestamp %v is not the wall clock at write", n, r.Timestamp)
		}
		bytesWritten += int64(len(r.Value))
	}
	if st.Bytes != bytesWritten {
		t.Errorf("stats bytes %d, records hold %d", st.Bytes, bytesWritten)
	}

	// Same seed and flags into another topic: identical records, digest.
	st2, err := nexmark.Write(ctx, newGen(t, nil), nexmark.WriteOptions{
		Topic: "nexmark2", Partitions: parts, Events: events, Kafka: []kgo.Opt{kgo.SeedBrokers(brokers...)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st2.Digest != st.Digest {
		t.Errorf("digests %x and %x of one seed differ", st.Digest, st2.Digest)
	}
	got2 := readAll(t, brokers, "nexmark2", events)
	for p := range int32(parts) {
		if len(got2[p]) != len(got[p]) {
			t.Fatalf("partition %d: %d and %d records", p, len(got[p]), len(got2[p]))
		}
		for i := range got[p] {
			if !bytes.Equal(got[p][i].Value, got2[p][i].Value) {
				t.Fatalf("partition %d offset %d differs between two runs", p, i)
			}
		}
	}
	other, err := nexmark.Write(ctx, newGen(t, func(c *nexmark.Config) { c.Seed = 7 }), nexmark.WriteOptions{
		Topic: "nexmark3", Partitions: parts, Events: events, Kafka: []kgo.Opt{kgo.SeedBrokers(brokers...)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if other.Digest == st.Digest {
		t.Error("another seed gave the same digest")
	}
}

// TestWriteRefuses: an existing topic with other partitions, or with
// records (unless appending).
func TestWriteRefuses(t *testing.T) {
	brokers := cluster(t)
	ctx := context.Background()
	opts := func(o nexmark.WriteOptions) nexmark.WriteOptions {
		o.Topic, o.Kafka = "events", []kgo.Opt{kgo.SeedBrokers(brokers...)}
		return o
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	g := newGen(t, nil)
	if _, err := nexmark.Write(ctx, g, opts(nexmark.WriteOptions{Partitions: 4, Events: 10})); !errors.Is(err, nexmark.ErrTopic) {
		t.Fatalf("4 partitions into a topic of 2: %v, want ErrTopic", err)
	}
	// Partitions 0: the topic's own.
	st, err := nexmark.Write(ctx, g, opts(nexmark.WriteOptions{Events: 10}))
	if err != nil || st.Partitions != 2 || st.Created {
		t.Fatalf("into the existing topic: %+v, %v", st, err)
	}
	_, err = nexmark.Write(ctx, g, opts(nexmark.WriteOptions{Events: 10}))
	if !errors.Is(err, nexmark.ErrTopic) {
		t.Fatalf("into a non-empty topic: %v, want ErrTopic", err)
	}
	if _, err := nexmark.Write(ctx, g, opts(nexmark.WriteOptions{Events: 10, Append: true})); err != nil {
		t.Fatalf("appending: %v", err)
	}
	if n := len(readAll(t, brokers, "events", 20)); n != 2 {
		t.Errorf("%d partitions read", n)
	}
	if _, err := nexmark.Write(ctx, g, opts(nexmark.WriteOptions{})); err == nil {
		t.Error("0 events at max speed accepted")
	}
}

// TestWriteRealtime: at 2,000 events/s, 400 events take about 200 ms of
// wall time; an unbounded realtime run stops cleanly on cancel.
func TestWriteRealtime(t *testing.T) {
	brokers := cluster(t)
	g := newGen(t, func(c *nexmark.Config) { c.Rate = 2000 })
	st, err := nexmark.Write(context.Background(), g, nexmark.WriteOptions{
		Topic: "rt", Events: 400, Emit: nexmark.EmitRealtime, Kafka: []kgo.Opt{kgo.SeedBrokers(brokers...)},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Event 399 is due 200 ms after event 0.
	if st.Elapsed < 190*time.Millisecond {
		t.Errorf("400 events at 2000/s took %v, want ≥ 200 ms", st.Elapsed)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var st2 nexmark.Stats
	var err2 error
	go func() {
		defer close(done)
		st2, err2 = nexmark.Write(ctx, g, nexmark.WriteOptions{
			Topic: "rt2", Emit: nexmark.EmitRealtime, Kafka: []kgo.Opt{kgo.SeedBrokers(brokers...)},
			Progress: func(s nexmark.Stats) {
				if s.Events > 0 {
					cancel()
				}
			},
		})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		t.Fatal("unbounded realtime run did not stop on cancel")
	}
	if err2 != nil || st2.Events == 0 {
		t.Fatalf("unbounded run stopped with %+v, %v; want events and no error", st2, err2)
	}
	if got := readAll(t, brokers, "rt2", int(st2.Events)); len(got[0]) != int(st2.Events) {
		t.Errorf("%d records of %d", len(got[0]), st2.Events)
	}
}
