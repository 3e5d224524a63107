package sink_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/sink"
)

// limitEnv is a broker whose topics "out" and "out-dead-letters" (unless
// absent) take at most the given max.message.bytes (0: the default).
func limitEnv(t *testing.T, outMax, dlqMax int, dlq bool) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	base := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	cl, err := kgo.NewClient(base...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	create := func(topic string, maxBytes int) {
		var configs map[string]*string
		if maxBytes > 0 {
			v := strconv.Itoa(maxBytes)
			configs = map[string]*string{"max.message.bytes": &v}
		}
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, configs, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	create("out", outMax)
	if dlq {
		create("out-dead-letters", dlqMax)
	}
	cfg := config.Default()
	cfg.Job.Name = "sinktest"
	cfg.Job.Parallelism = 1
	cfg.Sink.Topic = "out"
	cfg.Sink.TransactionTimeout = time.Minute
	return &env{t: t, ctx: ctx, cfg: &cfg, base: base}
}

// read returns every committed record of topic.
func (e *env) read(topic string) []*kgo.Record {
	e.t.Helper()
	cl, err := kgo.NewClient(append(e.base, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r); n++ })
		if n == 0 {
			if e.ctx.Err() != nil {
				e.t.Fatalf("reading %s: %v", topic, e.ctx.Err())
			}
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

// source is a record read from in[1] at offset.
func source(offset int64, value []byte) operators.Record {
	return operators.Record{Key: []byte("k"), Value: value, Topic: "in", Partition: 1, Offset: offset}
}

// commit pre-commits and commits checkpoint id.
func commit(t *testing.T, e *env, s *sink.Transactional, id int64) {
	t.Helper()
	if err := s.SnapshotState(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.NotifyCheckpointComplete(e.ctx, id); err != nil {
		t.Fatal(err)
	}
}

// TestMissingTopicsRefused: a sink whose topics do not exist does not
// open; the error names each missing topic and its setting.
func TestMissingTopicsRefused(t *testing.T) {
	e := limitEnv(t, 0, 0, false)
	e.cfg.Sink.Topic = "nowhere"
	s := sink.NewTransactional(e.cfg, e.base, nil)
	defer s.Close()
	err := s.Open(e.ctx, operators.OpenContext{Name: "sink", Log: zaptest.NewLogger(t)})
	var missing *sink.MissingTopicError
	if !errors.As(err, &missing) {
		t.Fatalf("Open = %v, want a MissingTopicError", err)
	}
	if want := []string{"nowhere", "nowhere-dead-letters"}; strings.Join(missing.Topics, ",") != strings.Join(want, ",") {
		t.Errorf("missing %v, want %v", missing.Topics, want)
	}
	for _, s := range []string{`"nowhere" (sink.topic)`, `"nowhere-dead-letters" (sink.dead_letter_topic`, "create it"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
	t.Log(err)

	// Only the dead-letter topic missing, with the at-least-once sink.
	e = limitEnv(t, 0, 0, false)
	k := sink.NewKafka(e.cfg, e.base, nil)
	defer k.Close()
	err = k.Open(e.ctx, operators.OpenContext{Name: "sink", Log: zaptest.NewLogger(t)})
	if !errors.As(err, &missing) || len(missing.Topics) != 1 || missing.Topics[0] != "out-dead-letters" {
		t.Fatalf("Open = %v, want the dead-letter topic missing", err)
	}
}

// TestOversizedOutputGoesToDeadLetters: an output record larger than the
// sink topic takes goes to the dead-letter topic, in the same transaction,
// with its provenance; the transaction commits with the other records.
func TestOversizedOutputGoesToDeadLetters(t *testing.T) {
	e := limitEnv(t, 4096, 0, true)
	s := e.open(0, nil)
	big := bytes.Repeat([]byte("x"), 10_000)
	recs := []operators.Record{source(1, []byte("a")), source(2, big), source(3, []byte("b"))}
	if err := s.Process(e.ctx, recs, nil); err != nil {
		t.Fatal(err)
	}
	commit(t, e, s, 1)
	out := e.read("out")
	if len(out) != 2 || string(out[0].Value) != "a" || string(out[1].Value) != "b" {
		t.Fatalf("out holds %d records, want a and b", len(out))
	}
	dls := e.read("out-dead-letters")
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	d := dls[0]
	if !bytes.Equal(d.Value, big) || header(d, sink.HeaderTruncated) != "" {
		t.Errorf("dead letter holds %d bytes (truncated %q), want the whole record", len(d.Value), header(d, sink.HeaderTruncated))
	}
	if header(d, sink.HeaderTopic) != "in" || header(d, sink.HeaderPartition) != "1" || header(d, sink.HeaderOffset) != "2" ||
		header(d, sink.HeaderOperator) != "sink" || !strings.Contains(header(d, sink.HeaderError), "larger than topic out accepts") {
		t.Errorf("dead letter headers: %v", d.Headers)
	}
}

// TestDeadLetterTruncated: a dead letter the dead-letter topic would refuse
// whole goes there truncated, with its original sizes; the output around
// it commits.
func TestDeadLetterTruncated(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dlqMax int
		value  int
		want   int // value bytes kept
	}{
		{"to 64 KiB", 0, 2 << 20, sink.TruncateTo},
		{"to what fits", 20_000, 100_000, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := limitEnv(t, 0, tc.dlqMax, true)
			s := e.open(0, nil)
			value := bytes.Repeat([]byte("v"), tc.value)
			key := bytes.Repeat([]byte("k"), 300)
			bad := source(7, value)
			bad.Key = key
			e.write(s, "before")
			if err := s.DeadLetters(e.ctx, []operators.DeadLetter{{Record: bad, Operator: "by-user", Reason: "value is not a JSON object"}}); err != nil {
				t.Fatal(err)
			}
			e.write(s, "after")
			commit(t, e, s, 1)
			if got := len(e.read("out")); got != 2 {
				t.Errorf("%d output records, want 2", got)
			}
			dls := e.read("out-dead-letters")
			if len(dls) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dls))
			}
			d := dls[0]
			if header(d, sink.HeaderTruncated) != "true" || header(d, sink.HeaderValueSize) != strconv.Itoa(tc.value) ||
				header(d, sink.HeaderKeySize) != "300" || header(d, sink.HeaderOffset) != "7" || header(d, sink.HeaderOperator) != "by-user" {
				t.Errorf("truncated dead letter headers: %v", d.Headers)
			}
			if !bytes.HasPrefix(value, d.Value) || !bytes.Equal(d.Key, key) {
				t.Errorf("dead letter key %d bytes, value %d bytes: not the original's beginning", len(d.Key), len(d.Value))
			}
			switch {
			case tc.want > 0 && len(d.Value) != tc.want:
				t.Errorf("value cut to %d bytes, want %d", len(d.Value), tc.want)
			case tc.want < 0 && (len(d.Value) < tc.dlqMax*9/10 || len(d.Value) > tc.dlqMax):
				t.Errorf("value cut to %d bytes, want nearly all of the topic's %d", len(d.Value), tc.dlqMax)
			}
			t.Logf("dead letter of %d bytes kept %d", tc.value, len(d.Value))
		})
	}
}

// TestRejectedFailPolicy: with sink.on_rejected: fail an oversized record
// stops the task with an error naming its source position, and nothing of
// its transaction is committed by recovery.
func TestRejectedFailPolicy(t *testing.T) {
	e := limitEnv(t, 4096, 0, true)
	e.cfg.Sink.OnRejected = config.OnRejectedFail
	s := e.open(0, nil)
	err := s.Process(e.ctx, []operators.Record{source(1, []byte("a")), source(9, bytes.Repeat([]byte("x"), 10_000))}, nil)
	var rej *sink.RejectedError
	if !errors.As(err, &rej) || rej.Record.Offset != 9 || rej.Topic != "out" {
		t.Fatalf("Process = %v, want a RejectedError for in[1] offset 9", err)
	}
	for _, s := range []string{"in[1] offset 9", "topic out", "sink.on_rejected"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q lacks %q", err, s)
		}
	}
	t.Log(err)
	if err := s.SnapshotState(e.ctx, 1); err == nil {
		t.Error("the failed sink took a checkpoint")
	}
}

// TestDeadLetterTooLargeEvenTruncated: a dead letter that cannot fit the
// dead-letter topic even without key and value stops the task, naming it.
func TestDeadLetterTooLargeEvenTruncated(t *testing.T) {
	e := limitEnv(t, 0, 1024, true)
	s := e.open(0, nil)
	bad := source(5, []byte("v"))
	bad.Headers = []operators.Header{{Key: "trace", Value: bytes.Repeat([]byte("t"), 2000)}}
	err := s.DeadLetters(e.ctx, []operators.DeadLetter{{Record: bad, Operator: "by-user", Reason: "bad"}})
	var rej *sink.RejectedError
	if !errors.As(err, &rej) || !rej.DeadLetter || rej.Record.Offset != 5 || rej.Topic != "out-dead-letters" {
		t.Fatalf("DeadLetters = %v, want a RejectedError for the dead-letter topic", err)
	}
	t.Log(err)
}

// TestAtLeastOnceOversized: the at-least-once sink routes an oversized
// record to the dead-letter topic too.
func TestAtLeastOnceOversized(t *testing.T) {
	e := limitEnv(t, 4096, 0, true)
	k := sink.NewKafka(e.cfg, e.base, nil)
	defer k.Close()
	if err := k.Open(e.ctx, operators.OpenContext{Name: "sink", Log: zaptest.NewLogger(t)}); err != nil {
		t.Fatal(err)
	}
	if err := k.Process(e.ctx, []operators.Record{source(1, []byte("a")), source(2, bytes.Repeat([]byte("x"), 10_000))}, nil); err != nil {
		t.Fatal(err)
	}
	if err := k.SnapshotState(e.ctx, 1); err != nil {
		t.Fatal(err)
	}
	if out, dls := e.read("out"), e.read("out-dead-letters"); len(out) != 1 || len(dls) != 1 || header(dls[0], sink.HeaderOffset) != "2" {
		t.Fatalf("out %d records, dead letters %d, want 1 and 1 (offset 2)", len(out), len(dls))
	}
}
