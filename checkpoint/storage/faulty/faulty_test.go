package faulty_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/faulty"
	"github.com/tidemark/tidemark/checkpoint/storage/storagetest"
)

// Without rules the wrapper is a store like any other.
func TestTransparent(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return faulty.New(storage.NewMem()) })
}

func putString(ctx context.Context, s storage.Store, key, body string) error {
	return s.Put(ctx, key, strings.NewReader(body), int64(len(body)))
}

func getString(t *testing.T, s storage.Store, key string) string {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get %q: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get %q: reading: %v", key, err)
	}
	return string(b)
}

func exists(t *testing.T, s storage.Store, key string) bool {
	t.Helper()
	_, err := s.Stat(context.Background(), key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat %q: %v", key, err)
	}
	return err == nil
}

func TestCalls(t *testing.T) {
	ctx := context.Background()
	s := faulty.New(storage.NewMem())
	for range 3 {
		if err := putString(ctx, s, "k", "v"); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.PutIfAbsent(ctx, "k", strings.NewReader("v"), 1)
	_, _ = s.Stat(ctx, "k")
	_, _ = s.List(ctx, "")
	_ = s.Delete(ctx, "k")
	_ = s.Delete(ctx, "k")
	for _, tc := range []struct {
		ops  faulty.Op
		want int64
	}{
		{faulty.OpPut, 3}, {faulty.OpPutIfAbsent, 1}, {faulty.OpGet, 0}, {faulty.OpStat, 1},
		{faulty.OpList, 1}, {faulty.OpDelete, 2}, {faulty.OpWrite, 6}, {faulty.OpRead, 2}, {faulty.OpAll, 8},
	} {
		if got := s.Calls(tc.ops); got != tc.want {
			t.Errorf("Calls(%s) = %d, want %d", tc.ops, got, tc.want)
		}
	}
}

func TestTriggers(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		when faulty.Trigger
		want string // per call: x fails, . succeeds
	}{
		{"nil is always", nil, "xxxxxx"},
		{"always", faulty.Always(), "xxxxxx"},
		{"nth", faulty.Nth(3), "..x..."},
		{"from", faulty.From(4), "...xxx"},
		{"probability 0", faulty.Probability(0), "......"},
		{"probability 1", faulty.Probability(1), "xxxxxx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := faulty.New(storage.NewMem())
			in := s.Inject(faulty.Rule{Ops: faulty.OpPut, When: tc.when})
			var got strings.Builder
			for range len(tc.want) {
				err := putString(ctx, s, "k", "v")
				switch {
				case err == nil:
					got.WriteByte('.')
				case errors.Is(err, faulty.ErrInjected):
					got.WriteByte('x')
				default:
					t.Fatalf("Put: %v", err)
				}
			}
			if got.String() != tc.want {
				t.Errorf("calls %s, want %s", got.String(), tc.want)
			}
			if in.Matched() != int64(len(tc.want)) || in.Fired() != int64(strings.Count(tc.want, "x")) {
				t.Errorf("Matched %d, Fired %d; want %d, %d", in.Matched(), in.Fired(), len(tc.want), strings.Count(tc.want, "x"))
			}
		})
	}
}

func TestProbabilityIsSeeded(t *testing.T) {
	pattern := func(seed uint64) string {
		s := faulty.New(storage.NewMem(), faulty.WithSeed(seed),
			faulty.WithRule(faulty.Rule{Ops: faulty.OpStat, When: faulty.Probability(0.5)}))
		var b strings.Builder
		for range 1000 {
			if _, err := s.Stat(context.Background(), "k"); errors.Is(err, faulty.ErrInjected) {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a, b, c := pattern(7), pattern(7), pattern(8)
	if a != b {
		t.Errorf("two runs with seed 7 differ")
	}
	if a == c {
		t.Errorf("seeds 7 and 8 give the same faults")
	}
	if n := strings.Count(a, "x"); n < 400 || n > 600 {
		t.Errorf("probability 0.5 failed %d of 1000 calls", n)
	}
}

func TestKeysOpsAndDisarm(t *testing.T) {
	ctx := context.Background()
	s := faulty.New(storage.NewMem())
	shared := s.Inject(faulty.Rule{Ops: faulty.OpPut | faulty.OpGet, Key: faulty.KeyContains("/shared/")})
	meta := s.Inject(faulty.Rule{Key: faulty.KeyPrefix("job/chk-"), Err: storage.ErrNotFound})

	if err := putString(ctx, s, "job/shared/a.sst", "a"); !errors.Is(err, faulty.ErrInjected) {
		t.Errorf("Put of a shared file: err %v, want ErrInjected", err)
	}
	if err := putString(ctx, s, "job/savepoints/x", "x"); err != nil {
		t.Errorf("Put of another key: %v", err)
	}
	if err := s.Delete(ctx, "job/shared/a.sst"); err != nil {
		t.Errorf("Delete is not among the rule's operations, got %v", err)
	}
	_, err := s.Stat(ctx, "job/chk-000001/_metadata")
	if !errors.Is(err, faulty.ErrInjected) || !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat with Err ErrNotFound: err %v, want both ErrInjected and ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "job/chk-000001/_metadata") {
		t.Errorf("error %q does not name the key", err)
	}
	if _, err := s.List(ctx, "job/chk-"); !errors.Is(err, faulty.ErrInjected) {
		t.Errorf("List of a matching prefix: err %v, want ErrInjected", err)
	}

	shared.Disarm()
	if err := putString(ctx, s, "job/shared/a.sst", "a"); err != nil {
		t.Errorf("Put after Disarm: %v", err)
	}
	if shared.Fired() != 1 {
		t.Errorf("shared rule fired %d times, want 1", shared.Fired())
	}
	if _, err := s.Stat(ctx, "job/chk-1"); !errors.Is(err, faulty.ErrInjected) {
		t.Errorf("the other rule stays armed: err %v", err)
	}
	s.DisarmAll()
	if _, err := s.Stat(ctx, "job/chk-1"); !errors.Is(err, storage.ErrNotFound) || errors.Is(err, faulty.ErrInjected) {
		t.Errorf("Stat after DisarmAll: err %v, want the inner store's ErrNotFound", err)
	}
	if meta.Fired() != 3 {
		t.Errorf("meta rule fired %d times, want 3", meta.Fired())
	}
}

// The first rule that fires takes the call; later rules don't see it.
func TestRuleOrder(t *testing.T) {
	s := faulty.New(storage.NewMem())
	first := s.Inject(faulty.Rule{Ops: faulty.OpStat, When: faulty.Nth(1), Err: errors.New("first")})
	second := s.Inject(faulty.Rule{Ops: faulty.OpStat, Err: errors.New("second")})
	for i, want := range []string{"first", "second", "second"} {
		_, err := s.Stat(context.Background(), "k")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("call %d: err %v, want the %s rule's", i+1, err, want)
		}
	}
	if first.Matched() != 3 || second.Matched() != 2 {
		t.Errorf("matched %d and %d, want 3 and 2", first.Matched(), second.Matched())
	}
}

func TestFailAfter(t *testing.T) {
	ctx := context.Background()
	s := faulty.New(storage.NewMem())
	in := s.Inject(faulty.Rule{Ops: faulty.OpWrite | faulty.OpGet, Effect: faulty.FailAfter, When: faulty.Nth(1)})
	if err := putString(ctx, s, "k", "written"); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("Put: err %v, want ErrInjected", err)
	}
	if got := getString(t, s, "k"); got != "written" {
		t.Fatalf("the Put whose response was lost left %q, want it written", got)
	}
	in.Disarm()

	s.Inject(faulty.Rule{Ops: faulty.OpDelete, Effect: faulty.FailAfter})
	if err := s.Delete(ctx, "k"); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("Delete: err %v, want ErrInjected", err)
	}
	if exists(t, s, "k") {
		t.Fatalf("the Delete whose response was lost left the object")
	}
	// If the inner call fails, that error is the call's.
	s.Inject(faulty.Rule{Ops: faulty.OpPutIfAbsent, Effect: faulty.FailAfter})
	if err := s.PutIfAbsent(ctx, "", strings.NewReader(""), 0); !errors.Is(err, storage.ErrInvalidKey) || errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("PutIfAbsent of an invalid key: err %v, want the inner store's ErrInvalidKey", err)
	}
}

// BreakStream on Put is a crash mid-upload: the caller sees an error and
// the stores show nothing, however far the upload got.
func TestBreakStreamPut(t *testing.T) {
	ctx := context.Background()
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	stores := map[string]func(t *testing.T) (storage.Store, string){
		"mem": func(t *testing.T) (storage.Store, string) { return storage.NewMem(), "" },
		"file": func(t *testing.T) (storage.Store, string) {
			dir := t.TempDir()
			s, err := storage.NewFile(dir)
			if err != nil {
				t.Fatal(err)
			}
			return s, dir
		},
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			inner, dir := newStore(t)
			s := faulty.New(inner)
			for _, n := range []int64{0, 1, 4096, int64(len(body)) - 1, int64(len(body)), 1 << 30} {
				in := s.Inject(faulty.Rule{Ops: faulty.OpPut | faulty.OpPutIfAbsent, Effect: faulty.BreakStream(n)})
				for _, put := range []func(context.Context, string, io.Reader, int64) error{s.Put, s.PutIfAbsent} {
					err := put(ctx, "job/shared/x.sst", bytes.NewReader(body), int64(len(body)))
					if !errors.Is(err, faulty.ErrInjected) {
						t.Fatalf("Put broken after %d bytes: err %v, want ErrInjected", n, err)
					}
				}
				in.Disarm()
				if exists(t, inner, "job/shared/x.sst") {
					t.Fatalf("Put broken after %d bytes left the object visible", n)
				}
			}
			if dir != "" { // no temporary files left behind either
				err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						t.Errorf("file left behind: %s", p)
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// acceptAll is a broken store that ignores its reader's errors.
type acceptAll struct{ storage.Store }

func (a acceptAll) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	_, _ = io.Copy(io.Discard, r)
	return nil
}

func TestBreakStreamCatchesNonAtomicStore(t *testing.T) {
	s := faulty.New(acceptAll{storage.NewMem()}, faulty.WithRule(faulty.Rule{Effect: faulty.BreakStream(3)}))
	err := putString(context.Background(), s, "k", "0123456789")
	if err == nil || errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("err %v, want an error that is not an injected fault", err)
	}
}

func TestBreakStreamGet(t *testing.T) {
	ctx := context.Background()
	s := faulty.New(storage.NewMem())
	if err := putString(ctx, s, "k", "0123456789"); err != nil {
		t.Fatal(err)
	}
	in := s.Inject(faulty.Rule{Ops: faulty.OpGet, Effect: faulty.BreakStream(4)})
	rc, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got, err := io.ReadAll(rc)
	if string(got) != "0123" || !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("read %q, err %v; want %q and ErrInjected", got, err, "0123")
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	in.Disarm()
	if got := getString(t, s, "k"); got != "0123456789" {
		t.Fatalf("after Disarm read %q", got)
	}
	// Other operations fail before.
	s.Inject(faulty.Rule{Ops: faulty.OpDelete, Effect: faulty.BreakStream(4)})
	if err := s.Delete(ctx, "k"); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("Delete: err %v, want ErrInjected", err)
	}
	if !exists(t, s, "k") {
		t.Fatal("a Delete failed before reaching the store removed the object")
	}
}

func TestLatency(t *testing.T) {
	ctx := context.Background()
	const d = 20 * time.Millisecond
	s := faulty.New(storage.NewMem(), faulty.WithLatency(faulty.OpStat, d))
	start := time.Now()
	if _, err := s.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat: %v", err)
	}
	if el := time.Since(start); el < d {
		t.Errorf("Stat took %v, want at least %v", el, d)
	}
	// Calls of other operations are not delayed, and a long delay ends
	// with the call's context.
	s.SetLatency(faulty.OpGet|faulty.OpList, time.Hour)
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := s.List(cctx, "")
		errc <- err
	}()
	if err := putString(ctx, s, "k", "v"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("List with an hour of latency, cancelled: err %v, want context.Canceled", err)
	}
	s.SetLatency(faulty.OpAll, 0)
	if _, err := s.List(ctx, ""); err != nil {
		t.Fatalf("List without latency: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	s := faulty.New(storage.NewMem(), faulty.WithSeed(3))
	in := s.Inject(faulty.Rule{When: faulty.Probability(0.3)})
	var wg sync.WaitGroup
	var mu sync.Mutex
	injected := 0
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				key := string(rune('a'+w)) + "/" + string(rune('a'+i%26))
				err := putString(ctx, s, key, "v")
				if i == 25 && w == 0 {
					s.SetLatency(faulty.OpStat, time.Microsecond)
				}
				_, serr := s.Stat(ctx, key)
				for _, e := range []error{err, serr} {
					if errors.Is(e, faulty.ErrInjected) {
						mu.Lock()
						injected++
						mu.Unlock()
					} else if e != nil && !errors.Is(e, storage.ErrNotFound) {
						t.Error(e)
					}
				}
			}
		})
	}
	wg.Wait()
	if int64(injected) != in.Fired() || s.Calls(faulty.OpAll) != 800 {
		t.Errorf("injected %d, fired %d, calls %d (want 800)", injected, in.Fired(), s.Calls(faulty.OpAll))
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[faulty.Op]string{
		0:                                    "none",
		faulty.OpPut:                         "put",
		faulty.OpPutIfAbsent | faulty.OpStat: "put-if-absent|stat",
		faulty.OpAll:                         "put|put-if-absent|get|stat|list|delete",
		faulty.OpDelete | faulty.OpPut:       "put|delete",
	} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", op, got, want)
		}
	}
}
