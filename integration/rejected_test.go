package integration

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/integration/testenv"
	"github.com/tidemark/tidemark/sink"
)

// bigTopic is a topic that takes records of up to 3 MB, so that a test can
// write what the default topics refuse.
func bigTopic(t *testing.T, k testenv.KafkaEnv, partitions int32) string {
	t.Helper()
	v := strconv.Itoa(3 << 20)
	return k.CreateTopic(t, partitions, map[string]*string{"max.message.bytes": &v})
}

// produceSync writes recs, failing the test on error, and returns them
// with their offsets.
func produceSync(ctx context.Context, t *testing.T, k testenv.KafkaEnv, recs ...*kgo.Record) []*kgo.Record {
	t.Helper()
	cl := k.Client(t, kgo.ProducerBatchMaxBytes(3<<20), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce input: %v", err)
	}
	return recs
}

// TestPoisonRecordDeadLettered is issue 8's poison record: a malformed
// record of 1.5 MB, which the dead-letter topic (1 MB, the default) cannot
// take whole. It goes there truncated, with its provenance; every other
// record is counted exactly once, the job never restarts and stays ready.
func TestPoisonRecordDeadLettered(t *testing.T) {
	k, s := testenv.Kafka(t), testenv.S3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in := bigTopic(t, k, 4)
	out, dlq := k.CreateTopic(t, 2, nil), k.CreateTopic(t, 1, nil)
	addr := freeAddr(t)
	dir := t.TempDir()
	pipeline := `
    - type: key_by
      name: by-user
      field: user
    - type: count`
	j := newJob(t, dir, in, out, jobYAML(t, k, s, dir, in, out, dlq, pipeline, "", addr))

	want := map[string]int{}
	var recs []*kgo.Record
	for i := range 400 {
		user := fmt.Sprintf("user-%02d", i%17)
		want[user]++
		recs = append(recs, &kgo.Record{Topic: in, Partition: int32(i % 4), Value: fmt.Appendf(nil, `{"user":%q,"n":%d}`, user, i)})
		if i == 200 {
			recs = append(recs, &kgo.Record{Topic: in, Partition: 2, Key: []byte("poison"), Value: bytes.Repeat([]byte("\x00garbage"), 3<<16)})
		}
	}
	recs = produceSync(ctx, t, k, recs...)
	poison := recs[201]
	t.Logf("poison record: %d bytes at %s[%d] offset %d", len(poison.Value), in, poison.Partition, poison.Offset)

	p := j.start()
	j.waitRunning(ctx, p)
	j.verify(ctx, want)
	dls := readAll(ctx, t, k, dlq, 1)
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	d := dls[0]
	if header(d, sink.HeaderTruncated) != "true" || header(d, sink.HeaderValueSize) != strconv.Itoa(len(poison.Value)) ||
		header(d, sink.HeaderTopic) != in || header(d, sink.HeaderPartition) != "2" ||
		header(d, sink.HeaderOffset) != strconv.FormatInt(poison.Offset, 10) || header(d, sink.HeaderOperator) != "by-user" ||
		!strings.Contains(header(d, sink.HeaderError), "not a JSON object") {
		t.Errorf("dead letter headers: %v", d.Headers)
	}
	if len(d.Value) != sink.TruncateTo || !bytes.HasPrefix(poison.Value, d.Value) || string(d.Key) != "poison" {
		t.Errorf("dead letter value %d bytes, key %q: want the first %d bytes and the key", len(d.Value), d.Key, sink.TruncateTo)
	}
	st, ok := status(t, addr)
	if code, body := httpGet("http://" + addr + "/readyz"); !ok || code != http.StatusOK || st.Restarts != 0 || !st.Ready {
		t.Errorf("after the poison record: /readyz %d %q, status %+v", code, body, st)
	}
	j.stop(ctx, p)
	if n := j.logCount(`"msg":"restarting the job`); n != 0 {
		t.Errorf("%d restarts", n)
	}
}

// TestOversizedOutput: a record larger than the sink topic takes goes to
// the dead-letter topic truncated, with its provenance, and the job goes
// on; with sink.on_rejected: fail the job stops with an error naming the
// record's source topic, partition and offset.
func TestOversizedOutput(t *testing.T) {
	k, s := testenv.Kafka(t), testenv.S3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in := bigTopic(t, k, 2)
	var recs []*kgo.Record
	for i := range 100 {
		recs = append(recs, &kgo.Record{Topic: in, Partition: int32(i % 2), Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
		if i == 50 {
			recs = append(recs, &kgo.Record{Topic: in, Partition: 1, Key: []byte("big"), Value: bytes.Repeat([]byte("b"), 1500_000)})
		}
	}
	recs = produceSync(ctx, t, k, recs...)
	big := recs[51]

	t.Run("dead_letter", func(t *testing.T) {
		out, dlq := k.CreateTopic(t, 2, nil), k.CreateTopic(t, 1, nil)
		dir := t.TempDir()
		j := newJob(t, dir, in, out, jobYAML(t, k, s, dir, in, out, dlq, "", "", freeAddr(t)))
		p := j.start()
		j.waitRunning(ctx, p)
		got := readAll(ctx, t, k, out, 100)
		seen := map[string]int{}
		for _, r := range got {
			seen[string(r.Value)]++
		}
		for i := range 100 {
			if n := seen[fmt.Sprintf("v%d", i)]; n != 1 {
				t.Errorf("v%d written %d times", i, n)
			}
		}
		if len(got) != 100 {
			t.Errorf("%d output records, want 100", len(got))
		}
		dls := readAll(ctx, t, k, dlq, 1)
		if len(dls) != 1 {
			t.Fatalf("%d dead letters, want 1", len(dls))
		}
		d := dls[0]
		if header(d, sink.HeaderOperator) != "sink" || header(d, sink.HeaderTruncated) != "true" ||
			header(d, sink.HeaderPartition) != "1" || header(d, sink.HeaderOffset) != strconv.FormatInt(big.Offset, 10) ||
			len(d.Value) != sink.TruncateTo || !strings.Contains(header(d, sink.HeaderError), "larger than topic "+out) {
			t.Errorf("dead letter of %d bytes, headers %v", len(d.Value), d.Headers)
		}
		j.stop(ctx, p)
	})
	t.Run("fail", func(t *testing.T) {
		out, dlq := k.CreateTopic(t, 2, nil), k.CreateTopic(t, 1, nil)
		dir := t.TempDir()
		j := newJob(t, dir, in, out, jobYAML(t, k, s, dir, in, out, dlq, "", "  on_rejected: fail\n", freeAddr(t)))
		p := j.start()
		var err error
		select {
		case err = <-p.exited:
		case <-ctx.Done():
			t.Fatalf("the processor did not stop on the oversized record:\n%s", p.tail(20))
		}
		log := p.tail(5)
		want := fmt.Sprintf("the record from %s[1] offset %d cannot be written to topic %s", in, big.Offset, out)
		if err == nil || !strings.Contains(log, want) || !strings.Contains(log, "sink.on_rejected is fail") {
			t.Fatalf("processor exited with %v, want exit status 1 and %q in:\n%s", err, want, log)
		}
		if n := j.logCount(`"msg":"restarting the job`); n != 0 {
			t.Errorf("%d restarts before stopping", n)
		}
		t.Logf("exit: %v; last lines:\n%s", err, log)
	})
}

// TestMissingTopicsRefused: a sink or dead-letter topic that does not
// exist (the test broker does not create topics) stops the processor at
// start-up with an error naming it, instead of retrying for ever.
func TestMissingTopicsRefused(t *testing.T) {
	k, s := testenv.Kafka(t), testenv.S3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := k.CreateTopic(t, 1, nil)
	for _, tc := range []struct{ name, out, dlq, key string }{
		{"sink topic", testenv.UniqueName(t, "missing"), k.CreateTopic(t, 1, nil), "sink.topic"},
		{"dead-letter topic", k.CreateTopic(t, 1, nil), testenv.UniqueName(t, "missing"), "sink.dead_letter_topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j := newJob(t, dir, in, tc.out, jobYAML(t, k, s, dir, in, tc.out, tc.dlq, "", "", ""))
			begin := time.Now()
			p := j.start()
			var err error
			select {
			case err = <-p.exited:
			case <-ctx.Done():
				t.Fatalf("the processor did not stop:\n%s", p.tail(20))
			}
			missing := tc.out
			if tc.key != "sink.topic" {
				missing = tc.dlq
			}
			log := p.tail(5)
			if want := fmt.Sprintf("topic %q (%s) does not exist: create it", missing, tc.key); err == nil || !strings.Contains(log, want) {
				t.Fatalf("processor exited with %v, want exit status 1 and %q in:\n%s", err, want, log)
			}
			t.Logf("stopped after %v: %v; last lines:\n%s", time.Since(begin).Round(time.Millisecond), err, log)
		})
	}
}

// TestBrokerRefusalStops: a refusal the sink cannot measure beforehand (a
// compacted sink topic refuses records without a key) stops the processor
// with an error naming a source record of the refused batch, instead of
// restarting for ever.
func TestBrokerRefusalStops(t *testing.T) {
	k, s := testenv.Kafka(t), testenv.S3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := k.CreateTopic(t, 1, nil)
	compact := "compact"
	out := k.CreateTopic(t, 1, map[string]*string{"cleanup.policy": &compact})
	dlq := k.CreateTopic(t, 1, nil)
	produceSync(ctx, t, k, &kgo.Record{Topic: in, Value: []byte("no key")})
	dir := t.TempDir()
	j := newJob(t, dir, in, out, jobYAML(t, k, s, dir, in, out, dlq, "", "", ""))
	p := j.start()
	var err error
	select {
	case err = <-p.exited:
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		t.Fatalf("the processor did not stop:\n%s", p.tail(40))
	}
	log := p.tail(5)
	want := fmt.Sprintf("the record from %s[0] offset 0 cannot be written to topic %s: the broker rejected it", in, out)
	if err == nil || !strings.Contains(log, want) {
		t.Fatalf("processor exited with %v, want exit status 1 and %q in:\n%s", err, want, log)
	}
	if n := j.logCount(`"msg":"restarting the job`); n != 0 {
		t.Errorf("%d restarts before stopping", n)
	}
	t.Logf("exit: %v; last lines:\n%s", err, log)
}
