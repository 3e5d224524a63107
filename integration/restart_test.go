package integration

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/integration/testenv"
)

// TestKafkaRestart checks that a broker restart, graceful and after SIGKILL,
// keeps topics, committed transactional records and consumer-group offsets,
// and that the same transactional producer and consumer group carry on
// across it: after each outage a new transaction is committed and the group
// reads exactly that from its committed offsets (read_committed).
func TestKafkaRestart(t *testing.T) {
	k := testenv.Kafka(t)
	const partitions = 3
	topic := k.CreateTopic(t, partitions, nil)
	group := testenv.UniqueName(t, "group")
	txnID := testenv.UniqueName(t, "txn")
	t.Logf("kafka: brokers %v, topic %s, group %s, transactional id %s", k.Brokers, topic, group, txnID)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	adm := k.Admin(t)

	// produce commits (or aborts) one transaction of n records, values
	// "<batch>-<i>", round-robin over the partitions: each transaction writes
	// to every partition, so a committed one ends every partition with its
	// commit marker.
	produce := func(prod *kgo.Client, batch string, n int, commit bool) []string {
		t.Helper()
		if err := prod.BeginTransaction(); err != nil {
			t.Fatalf("%s: BeginTransaction: %v", batch, err)
		}
		var values []string
		for i := range n {
			v := fmt.Sprintf("%s-%d", batch, i)
			r := &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(v)}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("%s: produce %s: %v", batch, v, err)
			}
			values = append(values, v)
		}
		if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("%s: EndTransaction(commit=%v): %v", batch, commit, err)
		}
		return values
	}
	// newProducer returns a transactional producer with the test's id; the
	// caller closes it.
	newProducer := func() *kgo.Client {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers...), kgo.TransactionalID(txnID),
			kgo.RecordRetries(20), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatalf("producer: %v", err)
		}
		return cl
	}
	// consumeGroup reads with the group, read_committed, from its committed
	// offsets (the start for a new group) until it has want records, checks
	// it gets exactly those, commits and leaves the group.
	consumeGroup := func(want []string) {
		t.Helper()
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(k.Brokers...),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.DisableAutoCommit(),
		)
		if err != nil {
			t.Fatalf("consumer: %v", err)
		}
		defer cl.Close()
		var got []string
		for len(got) < len(want) {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("group %s consumed %q of %q, then: %v", group, got, want, err)
			}
			for _, e := range fs.Errors() {
				t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		slices.Sort(got)
		sorted := slices.Sorted(slices.Values(want))
		if !slices.Equal(got, sorted) {
			t.Fatalf("group %s consumed %q, want %q", group, got, sorted)
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("group %s: commit: %v", group, err)
		}
	}
	committedOffsets := func() map[int32]int64 {
		t.Helper()
		resp, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatalf("FetchOffsets %s: %v", group, err)
		}
		out := map[int32]int64{}
		resp.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil {
				t.Fatalf("FetchOffsets %s %s/%d: %v", group, o.Topic, o.Partition, o.Err)
			}
			out[o.Partition] = o.At
		})
		return out
	}
	// checkSurvived checks that the topic is still there with its partitions
	// and the group's offsets, and that a new read_committed reader from the
	// start sees exactly the committed records.
	checkSurvived := func(offsets map[int32]int64, committed []string) {
		t.Helper()
		td, err := adm.ListTopics(ctx, topic)
		if err != nil || td[topic].Err != nil || len(td[topic].Partitions) != partitions {
			t.Fatalf("topic %s after the restart: %+v, err %v; want %d partitions", topic, td[topic], err, partitions)
		}
		if got := committedOffsets(); !maps.Equal(got, offsets) {
			t.Fatalf("group %s offsets after the restart: %v, want %v", group, got, offsets)
		}
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(k.Brokers...),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		)
		if err != nil {
			t.Fatalf("reader: %v", err)
		}
		defer cl.Close()
		end, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatalf("ListEndOffsets: %v", err)
		}
		// The last transaction in every partition was committed: its last
		// record sits just before the commit marker at end-1.
		var got []string
		next := map[int32]int64{}
		for {
			done := true
			end.Each(func(o kadm.ListedOffset) {
				if next[o.Partition] < o.Offset-1 {
					done = false
				}
			})
			if done {
				break
			}
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("reading %s after the restart: read %q, then: %v", topic, got, err)
			}
			for _, e := range fs.Errors() {
				t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				got = append(got, string(r.Value))
				next[r.Partition] = r.Offset + 1
			})
		}
		slices.Sort(got)
		if want := slices.Sorted(slices.Values(committed)); !slices.Equal(got, want) {
			t.Fatalf("after the restart, read_committed from the start read %q, want %q", got, want)
		}
	}

	prod := newProducer()
	defer func() { prod.Close() }()
	produce(prod, "aborted", 9, false)
	committed := produce(prod, "before", 30, true)
	consumeGroup(committed)
	offsets := committedOffsets()

	// A graceful restart; the producer client lives through it.
	testenv.RestartKafka(t)
	checkSurvived(offsets, committed)
	batch := produce(prod, "after-restart", 30, true)
	committed = append(committed, batch...)
	consumeGroup(batch)
	offsets = committedOffsets()

	// A crash; a new client takes the transactional id over.
	testenv.KillKafka(t)
	testenv.RestartKafka(t)
	checkSurvived(offsets, committed)
	prod.Close()
	prod = newProducer()
	batch = produce(prod, "after-kill", 30, true)
	committed = append(committed, batch...)
	consumeGroup(batch)
	t.Logf("%d committed records, group offsets and topic survived a restart and a SIGKILL", len(committed))
}

// TestS3Restart checks that objects, the bucket and conditional writes
// survive a restart of the S3 server, graceful and after SIGKILL, and that
// the server accepts new objects afterwards.
func TestS3Restart(t *testing.T) {
	env := testenv.S3(t)
	cl := env.Client()
	prefix := env.Prefix(t)
	t.Logf("s3: endpoint %s, bucket %s, prefix %s", env.Endpoint, env.Bucket, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	objects := map[string]string{}
	put := func(key, body string) {
		t.Helper()
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(env.Bucket), Key: aws.String(prefix + key),
			Body: strings.NewReader(body), IfNoneMatch: aws.String("*"),
		}); err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
		objects[prefix+key] = body
	}
	check := func(when string) {
		t.Helper()
		keys := slices.Sorted(maps.Keys(objects))
		if got := listKeys(ctx, t, cl, env.Bucket, prefix); !slices.Equal(got, keys) {
			t.Fatalf("%s: ListObjectsV2 = %q, want %q", when, got, keys)
		}
		for _, key := range keys {
			if got := getObject(ctx, t, cl, env.Bucket, key); string(got) != objects[key] {
				t.Fatalf("%s: GetObject %s = %q, want %q", when, key, got, objects[key])
			}
		}
		// The object's metadata (kept in xattrs) survives too: a conditional
		// overwrite is still refused.
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(env.Bucket), Key: aws.String(keys[0]),
			Body: strings.NewReader("overwrite"), IfNoneMatch: aws.String("*"),
		})
		if status := httpStatus(err); status != http.StatusPreconditionFailed {
			t.Fatalf("%s: conditional PutObject of an existing key: status %d, err %v; want 412", when, status, err)
		}
	}

	put("chk-1/_metadata", "first checkpoint")
	put("chk-1/shared/000001.sst", strings.Repeat("s", 64<<10))
	testenv.RestartS3(t)
	check("after a restart")

	put("chk-2/_metadata", "second checkpoint")
	testenv.KillS3(t)
	testenv.RestartS3(t)
	check("after a SIGKILL and restart")
	put("chk-3/_metadata", "third checkpoint")
	check("after a put on the restarted server")
}
