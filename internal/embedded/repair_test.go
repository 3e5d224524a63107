package embedded_test

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/embedded"
)

// crashImage copies the data dir of a running broker: what a SIGKILL of
// its process would leave on disk (kfake writes records and its pids log
// as it goes, and everything else only on Close).
func crashImage(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "image")
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		return errorsJoin(err, out.Close())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// txn writes n records to topic partition 0 in a transaction of id and
// commits it unless open; it returns the producer id and epoch the
// transaction had.
func txn(t *testing.T, ctx context.Context, addrs []string, id, topic string, n int, open bool) (*kgo.Client, int64, int16) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte('a' + i)}}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", id, err)
		}
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !open {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit %s: %v", id, err)
		}
	}
	return cl, pid, epoch
}

// committed counts the records of topic a read_committed consumer sees.
func committed(t *testing.T, ctx context.Context, addrs []string, topic string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	// The log is tiny: one poll after another until one comes back empty
	// within a short wait sees all of it.
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if err != context.DeadlineExceeded {
				t.Fatalf("consume: %v", err)
			}
		})
		if fs.NumRecords() == 0 {
			return n
		}
		n += fs.NumRecords()
	}
}

// resumeCommit sends the EndTxn(commit) a recovering sink sends for a
// transaction pre-committed with pid and epoch.
func resumeCommit(ctx context.Context, addrs []string, id string, pid int64, epoch int16) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// scenario runs, on a broker over dir, what an exactly-once sink does
// before a crash: id "done" commits a transaction of 5 records (which a
// restored checkpoint may still list as pending), id "open" leaves one of 3
// records open. It returns a crash image of dir and the committed
// transaction's producer id and epoch.
func scenario(t *testing.T, ctx context.Context, addrs []string, dir string) (string, int64, int16) {
	t.Helper()
	cl0, pid, epoch := txn(t, ctx, addrs, "done", "out", 5, false)
	defer cl0.Close()
	cl1, _, _ := txn(t, ctx, addrs, "open", "out", 3, true)
	defer cl1.Close()
	return crashImage(t, dir), pid, epoch
}

// After a crash, (1) the transaction open at the crash is aborted with a
// marker, so the next transactions of its id are visible, even after
// another crash, and (2) a committed transaction's retried commit
// succeeds. Without Repair, kfake fails both (checked too, so that this
// test says when a kfake upgrade makes the workaround unneeded).
func TestRepairAfterCrash(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "kafka")
	b, err := embedded.Start(ctx, embedded.Options{DataDir: dir, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	addrs := b.Addrs()
	if err := embedded.EnsureTopicsAt(ctx, addrs, 1, "out"); err != nil {
		t.Fatal(err)
	}
	image, pid, epoch := scenario(t, ctx, addrs, dir)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("kfake alone", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(crashImage(t, image)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		addrs := c.ListenAddrs()
		err = resumeCommit(ctx, addrs, "done", pid, epoch)
		cl, _, _ := txn(t, ctx, addrs, "open", "out", 4, false)
		cl.Close()
		got := committed(t, ctx, addrs, "out")
		if err == nil && got == 9 {
			t.Errorf("kfake's crash recovery works now (resume commit ok, %d records visible): Repair may be unneeded", got)
		}
		t.Logf("without repair: resume commit: %v; %d of 9 committed records visible", err, got)
	})

	b, err = embedded.Start(ctx, embedded.Options{DataDir: image, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	addrs = b.Addrs()
	if err := resumeCommit(ctx, addrs, "done", pid, epoch); err != nil {
		t.Errorf("retried commit of a committed transaction after a crash: %v", err)
	}
	cl, _, _ := txn(t, ctx, addrs, "open", "out", 4, false)
	cl.Close()
	if got := committed(t, ctx, addrs, "out"); got != 9 {
		t.Errorf("read_committed sees %d records after the crash, want 5+4", got)
	}
	again := crashImage(t, image)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// A second crash: the full replay must not merge the aborted records
	// into the id's next, committed, transaction.
	b, err = embedded.Start(ctx, embedded.Options{DataDir: again, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := committed(t, ctx, b.Addrs(), "out"); got != 9 {
		t.Errorf("read_committed sees %d records after a second crash, want 9", got)
	}
}

// A clean stop keeps open transactions open (kfake saves them): Repair
// must leave them alone, so that they can still be committed.
func TestRepairKeepsTransactionsOfACleanStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "kafka")
	b, err := embedded.Start(ctx, embedded.Options{DataDir: dir, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := embedded.EnsureTopicsAt(ctx, b.Addrs(), 1, "out"); err != nil {
		t.Fatal(err)
	}
	cl, pid, epoch := txn(t, ctx, b.Addrs(), "open", "out", 3, true)
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = embedded.Start(ctx, embedded.Options{DataDir: dir, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := embedded.Repair(ctx, b.Addrs(), zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	if err := resumeCommit(ctx, b.Addrs(), "open", pid, epoch); err != nil {
		t.Fatalf("commit of the transaction left open at a clean stop: %v", err)
	}
	if got := committed(t, ctx, b.Addrs(), "out"); got != 3 {
		t.Errorf("read_committed sees %d records, want 3", got)
	}
}
