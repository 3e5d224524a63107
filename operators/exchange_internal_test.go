package operators

import (
	"context"
	"testing"
	"time"
)

// TestExchangeBoundsBytes: with a byte bound, a batch waits until the
// receiver has processed the batches ahead of it that fill the bound, even
// when the channel has room for more batches; a batch larger than the
// bound goes alone; done gives the bytes back once.
func TestExchangeBoundsBytes(t *testing.T) {
	ch := make(chan element, 16)
	rec := Record{Key: []byte("k"), Value: make([]byte, 100)}
	one := RecordBytes(&rec)
	x := newExchange([]chan<- element{ch}, 128, 3*one)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Two batches of one record fit; a third of two records does not.
	for range 2 {
		if err := x.send(ctx, []Record{rec}, nil); err != nil {
			t.Fatal(err)
		}
	}
	sent := make(chan error, 1)
	go func() { sent <- x.send(ctx, []Record{rec, rec}, nil) }()
	select {
	case err := <-sent:
		t.Fatalf("a batch past the bound was queued at once (err %v); %d queued", err, len(ch))
	case <-time.After(50 * time.Millisecond):
	}
	e := <-ch
	if e.held != one {
		t.Fatalf("a batch of one record holds %d bytes, want %d", e.held, one)
	}
	e.done()
	e.done() // a second call gives nothing back
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// A batch larger than the bound holds the whole bound, so it goes
	// only when everything ahead of it is processed.
	for range 2 {
		e := <-ch
		e.done()
	}
	big := make([]Record, 10)
	for i := range big {
		big[i] = rec
	}
	if err := x.send(ctx, big, nil); err != nil {
		t.Fatal(err)
	}
	if e := <-ch; e.held != 3*one || len(e.records) != 10 {
		t.Fatalf("a batch of 10 records holds %d bytes (%d records), want the bound %d", e.held, len(e.records), 3*one)
	}
	// The bound is taken: a further send waits until ctx ends.
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if err := x.send(short, []Record{rec}, nil); err == nil {
		t.Fatal("a send past a full bound returned without error before its context ended")
	}
}
