package checkpoint

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
)

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	t.Run("collection skips files in use", func(t *testing.T) {
		r := newRegistry()
		r.begin(1)
		if stored, err := r.register(ctx, 1, "k"); err != nil || stored {
			t.Fatalf("register = %v, %v; want not stored", stored, err)
		}
		if r.tryDelete("k") {
			t.Fatal("a file a checkpoint in flight registered may be deleted")
		}
		r.markStored(1, "k")
		r.complete(1)
		if r.tryDelete("k") {
			t.Fatal("a file a complete checkpoint holds may be deleted")
		}
		r.release(1)
		if !r.tryDelete("k") {
			t.Fatal("a file nothing holds may not be deleted")
		}
		r.deleted("k")
		if h, f := r.size(); h != 0 || f != 0 {
			t.Errorf("%d holders and %d files left", h, f)
		}
	})
	t.Run("a registration waits for a deletion and uploads afresh", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRegistry()
			r.hold(7, []string{"k"}, true) // stored
			r.release(7)
			if !r.tryDelete("k") {
				t.Fatal("tryDelete refused")
			}
			r.begin(8)
			type result struct {
				stored bool
				err    error
			}
			done := make(chan result, 1)
			go func() {
				stored, err := r.register(ctx, 8, "k")
				done <- result{stored, err}
			}()
			synctest.Wait()
			select {
			case <-done:
				t.Fatal("registered a file while it was being deleted")
			default:
			}
			r.deleted("k")
			res := <-done
			if res.err != nil || res.stored {
				t.Fatalf("register after the deletion = %v, %v; want not stored (upload afresh)", res.stored, res.err)
			}
			if r.tryDelete("k") {
				t.Fatal("the file registered after the deletion may be deleted")
			}
		})
	})
	t.Run("an upload that outlived its checkpoint proves nothing", func(t *testing.T) {
		r := newRegistry()
		r.begin(1)
		if _, err := r.register(ctx, 1, "k"); err != nil {
			t.Fatal(err)
		}
		r.begin(2)
		if _, err := r.register(ctx, 2, "k"); err != nil {
			t.Fatal(err)
		}
		r.release(1)         // checkpoint 1 failed while uploading k
		r.markStored(1, "k") // its upload ends afterwards
		if stored, _ := r.register(ctx, 2, "k"); stored {
			t.Fatal("a failed checkpoint's late upload made the file count as stored")
		}
		if _, err := r.register(ctx, 1, "x"); !errors.Is(err, errHolderGone) {
			t.Fatalf("registration for a failed checkpoint: %v, want errHolderGone", err)
		}
	})
	t.Run("a file found missing is uploaded again", func(t *testing.T) {
		r := newRegistry()
		r.hold(1, []string{"k"}, true)
		r.begin(2)
		if stored, _ := r.register(ctx, 2, "k"); !stored {
			t.Fatal("a complete checkpoint's file is not stored")
		}
		r.markMissing("k")
		r.begin(3)
		if stored, _ := r.register(ctx, 3, "k"); stored {
			t.Fatal("a file found missing counts as stored")
		}
	})
}
