package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/checkpoint/storage"
)

// LargeSize is the size of the suite's large objects: more than two parts
// for a store whose multipart part size is 5 MiB (storage.MinPartSize).
// Factories of stores that upload in parts should set the part size at most
// LargeSize/2 so that the suite covers multipart uploads.
const LargeSize = 12<<20 + 12345

// Run runs the behaviour suite against the stores newStore makes, one
// fresh, empty store per subtest (newStore may register clean-ups with its
// t). Run closes each store at the end of its subtest.
//
// It checks round trips (empty, small, LargeSize), overwrite, PutIfAbsent
// alone and from 8 goroutines at once, missing objects, List's prefix
// semantics and order, idempotent Delete, size mismatches and invalid keys
// (nothing visible), and cancelled contexts.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentLarge", testPutIfAbsentLarge},
		{"PutIfAbsentConcurrent", testPutIfAbsentConcurrent},
		{"Missing", testMissing},
		{"List", testList},
		{"Delete", testDelete},
		{"SizeMismatch", testSizeMismatch},
		{"ReaderError", testReaderError},
		{"InvalidKeys", testInvalidKeys},
		{"UnusualKeys", testUnusualKeys},
		{"CancelledContext", testCancelledContext},
		{"CancelDuringPut", testCancelDuringPut},
		{"ConcurrentPutDelete", testConcurrentPutDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			tc.fn(t, s)
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// data returns n pseudo-random bytes, the same for the same seed.
func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 7}).Read(b)
	return b
}

// onlyReader hides every method but Read (no WriterTo, no Seeker, no Len),
// as a network stream would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func reader(b []byte) io.Reader { return onlyReader{bytes.NewReader(b)} }

func put(t *testing.T, s storage.Store, key string, b []byte) {
	t.Helper()
	if err := s.Put(ctxFor(t), key, reader(b), int64(len(b))); err != nil {
		t.Fatalf("Put %q (%d bytes): %v", key, len(b), err)
	}
}

func get(t *testing.T, s storage.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(ctxFor(t), key)
	if err != nil {
		t.Fatalf("Get %q: %v", key, err)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get %q: reading: %v", key, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("Get %q: Close: %v", key, err)
	}
	return b
}

func checkContent(t *testing.T, s storage.Store, key string, want []byte) {
	t.Helper()
	got := get(t, s, key)
	if !bytes.Equal(got, want) {
		t.Fatalf("Get %q: %d bytes %s, want %d bytes %s", key, len(got), abbrev(got), len(want), abbrev(want))
	}
	info, err := s.Stat(ctxFor(t), key)
	if err != nil {
		t.Fatalf("Stat %q: %v", key, err)
	}
	if info.Key != key || info.Size != int64(len(want)) || info.ModTime.IsZero() {
		t.Fatalf("Stat %q = %+v, want key %q, size %d, a modification time", key, info, key, len(want))
	}
}

func abbrev(b []byte) string {
	if len(b) > 16 {
		return fmt.Sprintf("%q…", b[:16])
	}
	return fmt.Sprintf("%q", b)
}

func checkMissing(t *testing.T, s storage.Store, key string) {
	t.Helper()
	ctx := ctxFor(t)
	if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat %q: err %v, want ErrNotFound", key, err)
	}
	rc, err := s.Get(ctx, key)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get %q: err %v, want ErrNotFound", key, err)
	}
}

func listKeys(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	infos, err := s.List(ctxFor(t), prefix)
	if err != nil {
		t.Fatalf("List %q: %v", prefix, err)
	}
	keys := []string{}
	for _, i := range infos {
		keys = append(keys, i.Key)
	}
	return keys
}

func testRoundTrip(t *testing.T, s storage.Store) {
	objects := map[string][]byte{
		"empty":                   {},
		"small":                   []byte("hello, checkpoint"),
		"bytes":                   data(1, 256),
		"job/chk-000001/_meta":    data(2, 4096),
		"job/shared/ab/cd.sst":    data(3, 100_000),
		"job/shared/large.sst":    data(4, LargeSize),
		"job/shared/exactly-5MiB": data(5, storage.MinPartSize),
	}
	for k, b := range objects {
		put(t, s, k, b)
	}
	for k, b := range objects {
		checkContent(t, s, k, b)
	}
}

func testOverwrite(t *testing.T, s storage.Store) {
	const key = "dir/obj"
	put(t, s, key, []byte("first version, longer"))
	put(t, s, key, []byte("second"))
	checkContent(t, s, key, []byte("second"))
	large := data(6, LargeSize)
	put(t, s, key, large)
	checkContent(t, s, key, large)
	put(t, s, key, nil)
	checkContent(t, s, key, nil)
	if got := listKeys(t, s, ""); !slices.Equal(got, []string{key}) {
		t.Fatalf("List after overwrites = %q, want [%q]", got, key)
	}
}

func testPutIfAbsent(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	const key = "chk-000007/_metadata"
	if err := s.PutIfAbsent(ctx, key, reader([]byte("winner")), 6); err != nil {
		t.Fatalf("PutIfAbsent of a new key: %v", err)
	}
	err := s.PutIfAbsent(ctx, key, reader([]byte("zombie!")), 7)
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("PutIfAbsent of an existing key: err %v, want ErrExists", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("error %q does not name the key %q", err, key)
	}
	checkContent(t, s, key, []byte("winner"))
	// An empty object exists too.
	if err := s.PutIfAbsent(ctx, "empty", reader(nil), 0); err != nil {
		t.Fatalf("PutIfAbsent of an empty object: %v", err)
	}
	if err := s.PutIfAbsent(ctx, "empty", reader([]byte("x")), 1); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("PutIfAbsent over an empty object: err %v, want ErrExists", err)
	}
	checkContent(t, s, "empty", nil)
	// After Delete the key is free again.
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.PutIfAbsent(ctx, key, reader([]byte("again")), 5); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
	checkContent(t, s, key, []byte("again"))
}

func testPutIfAbsentLarge(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	first, second := data(7, LargeSize), data(8, LargeSize)
	if err := s.PutIfAbsent(ctx, "big", reader(first), LargeSize); err != nil {
		t.Fatalf("PutIfAbsent of a new large object: %v", err)
	}
	if err := s.PutIfAbsent(ctx, "big", reader(second), LargeSize); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("PutIfAbsent of a large object over an existing key: err %v, want ErrExists", err)
	}
	// A small object was there first, a large one comes second.
	put(t, s, "small", []byte("small"))
	if err := s.PutIfAbsent(ctx, "small", reader(second), LargeSize); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("PutIfAbsent of a large object over a small one: err %v, want ErrExists", err)
	}
	checkContent(t, s, "big", first)
	checkContent(t, s, "small", []byte("small"))
	if got, want := listKeys(t, s, ""), []string{"big", "small"}; !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
}

func testPutIfAbsentConcurrent(t *testing.T, s storage.Store) {
	const writers = 8
	const key = "job/chk-000042/_metadata"
	ctx := ctxFor(t)
	start := make(chan struct{})
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			body := []byte(fmt.Sprintf("written by instance %d", i))
			<-start
			errs[i] = s.PutIfAbsent(ctx, key, reader(body), int64(len(body)))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("PutIfAbsent: writers %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrExists):
			t.Fatalf("PutIfAbsent of writer %d: err %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("PutIfAbsent: no writer of %d succeeded: %v", writers, errs)
	}
	checkContent(t, s, key, []byte(fmt.Sprintf("written by instance %d", winner)))
}

func testMissing(t *testing.T, s storage.Store) {
	checkMissing(t, s, "never/written")
	put(t, s, "dir/sub/obj", []byte("x"))
	checkMissing(t, s, "dir")     // a "directory" is not an object
	checkMissing(t, s, "dir/sub") // nor a deeper one
	checkMissing(t, s, "dir/sub/ob")
	checkMissing(t, s, "dir/sub/obj/below") // below an object
	checkMissing(t, s, "dir/other/obj")
	if got := listKeys(t, s, "never/"); len(got) != 0 {
		t.Fatalf("List of a missing prefix = %q, want none", got)
	}
}

func testList(t *testing.T, s storage.Store) {
	objects := map[string]int{
		"job/chk-000001/_metadata": 10,
		"job/chk-000001/state":     11,
		"job/chk-000010/_metadata": 12,
		"job/chk-000002/_metadata": 13,
		"job/shared/aa.sst":        14,
		"job/shared/ab.sst":        0,
		"job/shared/b.sst":         16,
		"job/sharedx":              17,
		"job/x-y":                  18,
		"job/x.y":                  19,
		"job/x/y":                  20,
		"other/file":               21,
		"top":                      22,
	}
	for k, n := range objects {
		put(t, s, k, data(uint64(n), n))
	}
	all := slices.Sorted(func(yield func(string) bool) {
		for k := range objects {
			if !yield(k) {
				return
			}
		}
	})
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"job/chk-000001", []string{"job/chk-000001/_metadata", "job/chk-000001/state"}},
		{"job/chk-00001", []string{"job/chk-000010/_metadata"}},
		{"job/chk-0000", []string{"job/chk-000001/_metadata", "job/chk-000001/state", "job/chk-000002/_metadata", "job/chk-000010/_metadata"}},
		{"job/chk-000001/", []string{"job/chk-000001/_metadata", "job/chk-000001/state"}},
		{"job/chk-000001/_metadata", []string{"job/chk-000001/_metadata"}},
		{"job/shared/a", []string{"job/shared/aa.sst", "job/shared/ab.sst"}},
		{"job/shared", []string{"job/shared/aa.sst", "job/shared/ab.sst", "job/shared/b.sst", "job/sharedx"}},
		{"job/shared/", []string{"job/shared/aa.sst", "job/shared/ab.sst", "job/shared/b.sst"}},
		{"job/x", []string{"job/x-y", "job/x.y", "job/x/y"}},
		{"jo", all[:len(all)-2]},
		{"t", []string{"top"}},
		{"top/", nil},
		{"nothing", nil},
		{"nothing/here/", nil},
		{"job/chk-000001/_metadata/", nil},
	} {
		infos, err := s.List(ctxFor(t), tc.prefix)
		if err != nil {
			t.Fatalf("List %q: %v", tc.prefix, err)
		}
		var got []string
		for _, info := range infos {
			got = append(got, info.Key)
			if want := int64(objects[info.Key]); info.Size != want {
				t.Errorf("List %q: %s has size %d, want %d", tc.prefix, info.Key, info.Size, want)
			}
			if info.ModTime.IsZero() {
				t.Errorf("List %q: %s has no modification time", tc.prefix, info.Key)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("List %q = %q, want %q", tc.prefix, got, tc.want)
		}
	}
	for _, prefix := range []string{"/", "/job", "../", "job//", "job/../x", "./job/"} {
		if _, err := s.List(ctxFor(t), prefix); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("List %q: err %v, want ErrInvalidKey", prefix, err)
		}
	}
}

func testDelete(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	put(t, s, "a/b/c", []byte("c"))
	put(t, s, "a/b/d", []byte("d"))
	put(t, s, "a/e", []byte("e"))
	for range 2 { // the second time the object is already gone
		if err := s.Delete(ctx, "a/b/c"); err != nil {
			t.Fatalf("Delete a/b/c: %v", err)
		}
		checkMissing(t, s, "a/b/c")
	}
	for _, key := range []string{"never", "no/such/dir/key", "a/b", "a/e/below"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete of missing %q: %v", key, err)
		}
	}
	if got, want := listKeys(t, s, ""), []string{"a/b/d", "a/e"}; !slices.Equal(got, want) {
		t.Fatalf("List after deletes = %q, want %q", got, want)
	}
	checkContent(t, s, "a/b/d", []byte("d"))
	for _, key := range []string{"a/b/d", "a/e"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete %q: %v", key, err)
		}
	}
	if got := listKeys(t, s, ""); len(got) != 0 {
		t.Fatalf("List after deleting everything = %q, want none", got)
	}
	put(t, s, "a/b/c", []byte("again")) // its directories may have gone
	checkContent(t, s, "a/b/c", []byte("again"))
}

// checkUntouched checks that key holds want (nil: is missing) and that List
// shows no other key.
func checkUntouched(t *testing.T, s storage.Store, key string, want []byte, keys []string) {
	t.Helper()
	if want == nil {
		checkMissing(t, s, key)
	} else {
		checkContent(t, s, key, want)
	}
	if got := listKeys(t, s, ""); !slices.Equal(got, keys) {
		t.Fatalf("List = %q, want %q", got, keys)
	}
}

func testSizeMismatch(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	small := []byte("0123456789")
	large := data(9, LargeSize)
	put(t, s, "existing", []byte("old"))
	for _, tc := range []struct {
		name string
		body []byte
		size int64
	}{
		{"short", small, int64(len(small)) + 1},
		{"long", small, int64(len(small)) - 1},
		{"long empty", small, 0},
		{"short empty", nil, 1},
		{"negative", small, -1},
		{"short large", large[:LargeSize-1], LargeSize},
		{"long large", large, LargeSize - 1},
		{"short by a part", large[:LargeSize-storage.MinPartSize], LargeSize},
	} {
		for _, key := range []string{"new/" + tc.name, "existing"} {
			err := s.Put(ctx, key, reader(tc.body), tc.size)
			if !errors.Is(err, storage.ErrSizeMismatch) {
				t.Fatalf("%s: Put %q of %d bytes as %d: err %v, want ErrSizeMismatch", tc.name, key, len(tc.body), tc.size, err)
			}
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error %q does not name the key %q", err, key)
			}
			err = s.PutIfAbsent(ctx, key, reader(tc.body), tc.size)
			if key == "existing" && errors.Is(err, storage.ErrExists) {
				continue
			}
			if !errors.Is(err, storage.ErrSizeMismatch) {
				t.Fatalf("%s: PutIfAbsent %q of %d bytes as %d: err %v, want ErrSizeMismatch", tc.name, key, len(tc.body), tc.size, err)
			}
		}
		checkUntouched(t, s, "new/"+tc.name, nil, []string{"existing"})
		checkContent(t, s, "existing", []byte("old"))
	}
}

var errReader = errors.New("storagetest: reader broke")

// failingReader yields n bytes of b, then fails with errReader.
type failingReader struct {
	b []byte
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errReader
	}
	k := copy(p, f.b[:min(len(f.b), f.n)])
	f.b, f.n = f.b[k:], f.n-k
	return k, nil
}

func testReaderError(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	large := data(10, LargeSize)
	for _, n := range []int{0, 100, storage.MinPartSize + 1, LargeSize - 1} {
		for _, put := range []func(context.Context, string, io.Reader, int64) error{s.Put, s.PutIfAbsent} {
			err := put(ctx, "obj", &failingReader{b: large, n: n}, LargeSize)
			if !errors.Is(err, errReader) {
				t.Fatalf("Put with a reader failing after %d bytes: err %v, want the reader's error", n, err)
			}
		}
		checkUntouched(t, s, "obj", nil, []string{})
	}
}

var invalidKeys = []string{
	"", "/", "/abs", "a/", "a//b", "..", ".", "../a", "a/..", "a/../b", "./a", "a/./b",
	"a\x00b", "a\nb", "tab\there", "\xff", storage.TempPrefix + "x", "a/" + storage.TempPrefix + "1/b",
	strings.Repeat("k", storage.MaxKeyLen+1),
}

func testInvalidKeys(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for _, key := range invalidKeys {
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("%s %q: err %v, want ErrInvalidKey", op, key, err)
			}
		}
		check("ValidateKey", storage.ValidateKey(key))
		check("Put", s.Put(ctx, key, reader([]byte("x")), 1))
		check("PutIfAbsent", s.PutIfAbsent(ctx, key, reader([]byte("x")), 1))
		rc, err := s.Get(ctx, key)
		if err == nil {
			rc.Close()
		}
		check("Get", err)
		_, err = s.Stat(ctx, key)
		check("Stat", err)
		check("Delete", s.Delete(ctx, key))
	}
	if got := listKeys(t, s, ""); len(got) != 0 {
		t.Fatalf("List after invalid puts = %q, want none", got)
	}
}

func testUnusualKeys(t *testing.T, s storage.Store) {
	keys := []string{
		"with space/and=equals+plus",
		"ünïcödé/日本",
		"dots/..a/a../.b/b.",
		"x.tmp-not-a-prefix",
		"percent%2Fslash",
		"q?uery&amp#frag",
		strings.Repeat("k", 200) + "/" + strings.Repeat("v", 200),
	}
	for i, k := range keys {
		if err := storage.ValidateKey(k); err != nil {
			t.Fatalf("ValidateKey %q: %v", k, err)
		}
		put(t, s, k, data(uint64(i), i))
	}
	for i, k := range keys {
		checkContent(t, s, k, data(uint64(i), i))
	}
	slices.Sort(keys)
	if got := listKeys(t, s, ""); !slices.Equal(got, keys) {
		t.Fatalf("List = %q, want %q", got, keys)
	}
}

func testCancelledContext(t *testing.T, s storage.Store) {
	put(t, s, "existing", []byte("x"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: err %v, want context.Canceled", op, err)
		}
	}
	check("Put", s.Put(ctx, "new", reader([]byte("x")), 1))
	check("Put large", s.Put(ctx, "new", reader(data(11, LargeSize)), LargeSize))
	check("PutIfAbsent", s.PutIfAbsent(ctx, "new", reader([]byte("x")), 1))
	rc, err := s.Get(ctx, "existing")
	if err == nil {
		rc.Close()
	}
	check("Get", err)
	_, err = s.Stat(ctx, "existing")
	check("Stat", err)
	_, err = s.List(ctx, "")
	check("List", err)
	check("Delete", s.Delete(ctx, "existing"))
	checkUntouched(t, s, "new", nil, []string{"existing"})
	checkContent(t, s, "existing", []byte("x"))
}

// cancellingReader cancels its context once it has yielded n bytes.
type cancellingReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	k, err := c.r.Read(p[:min(len(p), max(c.n, 1))])
	c.n -= k
	return k, err
}

func testCancelDuringPut(t *testing.T, s storage.Store) {
	large := data(12, LargeSize)
	for _, n := range []int{10, storage.MinPartSize + 10} {
		ctx, cancel := context.WithCancel(context.Background())
		err := s.Put(ctx, "obj", &cancellingReader{r: bytes.NewReader(large), n: n, cancel: cancel}, LargeSize)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put whose context ends after %d bytes: err %v, want context.Canceled", n, err)
		}
		checkUntouched(t, s, "obj", nil, []string{})
	}
}

// testConcurrentPutDelete has writers create and delete objects in shared
// directories at once (the directory store removes empty directories on
// Delete while Put creates them).
func testConcurrentPutDelete(t *testing.T, s storage.Store) {
	const workers, rounds = 4, 8
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*2)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				key := fmt.Sprintf("shared/dir/%d/w%d-r%d", r%2, w, r)
				body := []byte(key)
				if err := s.Put(ctx, key, reader(body), int64(len(body))); err != nil {
					errs <- err
					continue
				}
				if err := s.Delete(ctx, key); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := listKeys(t, s, ""); len(got) != 0 {
		t.Fatalf("List after put+delete = %q, want none", got)
	}
}
