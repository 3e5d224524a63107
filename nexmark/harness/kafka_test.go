package harness

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/nexmark"
)

// TestWriteAndRead writes events in two ranges and reads them back: the
// generator's layout (event n at partition n mod 3, offset n div 3), and a
// transaction's aborted records and markers left out.
func TestWriteAndRead(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "events", "txn", "empty"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	gen, err := nexmark.New(nexmark.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	if err := WriteEvents(ctx, cl, gen, "events", 3, 0, 400); err != nil {
		t.Fatal(err)
	}
	if err := WriteEvents(ctx, cl, gen, "events", 3, 400, n); err != nil {
		t.Fatal(err)
	}
	if err := WriteEvents(ctx, cl, gen, "events", 3, 5, 4); err == nil {
		t.Error("a reversed range was accepted")
	}
	recs, err := ReadTopic(ctx, brokers, "events")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if i > 0 && r.Partition == recs[i-1].Partition && r.Offset != recs[i-1].Offset+1 {
			t.Fatalf("record %d: partition %d offset %d after %d", i, r.Partition, r.Offset, recs[i-1].Offset)
		}
		ev := gen.Event(r.Offset*3 + int64(r.Partition))
		if want := nexmark.AppendJSON(nil, &ev); !bytes.Equal(r.Value, want) {
			t.Fatalf("partition %d offset %d: %s, want %s", r.Partition, r.Offset, r.Value, want)
		}
	}

	// One committed and one aborted transaction: only the committed
	// record is read, and the read ends at the markers.
	tx, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("t"), kgo.DefaultProduceTopic("txn"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for _, commit := range []bool{true, false} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := tx.ProduceSync(ctx, &kgo.Record{Partition: 1, Key: []byte("k"), Value: []byte{'0' + b2i(commit)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := tx.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	recs, err = ReadTopic(ctx, brokers, "txn")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || string(recs[0].Value) != "1" {
		t.Fatalf("read %d records from the transactions, want the committed one", len(recs))
	}
	if refs := ToReference(recs); string(refs[0].Key) != "k" || string(refs[0].Value) != "1" {
		t.Errorf("ToReference = %+v", refs)
	}

	// Nothing to read in an empty topic; a missing topic is an error.
	if recs, err := ReadTopic(ctx, brokers, "empty"); err != nil || len(recs) != 0 {
		t.Errorf("empty topic: %d records, %v", len(recs), err)
	}
	shortCtx, cancelShort := context.WithTimeout(ctx, 10*time.Second)
	defer cancelShort()
	if _, err := ReadTopic(shortCtx, brokers, "missing"); err == nil {
		t.Error("reading a missing topic succeeded")
	}
}

func b2i(b bool) byte {
	if b {
		return 1
	}
	return 0
}
