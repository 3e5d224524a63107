package checkpoint_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeGraph stands in for a running job graph: the test plays its tasks.
// Trigger never blocks; the test reads the triggered ids from triggers.
type fakeGraph struct {
	keyed    int
	mu       sync.Mutex
	queue    []int64
	triggers chan struct{} // signalled when queue grows
}

func newFakeGraph(keyed int) *fakeGraph {
	return &fakeGraph{keyed: keyed, triggers: make(chan struct{}, 1)}
}

func (g *fakeGraph) Tasks() []operators.TaskID {
	ids := []operators.TaskID{{Stage: "source", Index: 0}}
	for k := range g.keyed {
		ids = append(ids, operators.TaskID{Stage: "keyed", Index: k})
	}
	return ids
}

func (g *fakeGraph) Trigger(id int64) {
	g.mu.Lock()
	g.queue = append(g.queue, id)
	g.mu.Unlock()
	select {
	case g.triggers <- struct{}{}:
	default:
	}
}

func (g *fakeGraph) TriggerFinal(id int64) { g.Trigger(id) }

func (g *fakeGraph) NotifyComplete(int64, map[operators.TaskID][]operators.Position) {}

// take returns the ids triggered since the last call.
func (g *fakeGraph) take() []int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	q := g.queue
	g.queue = nil
	return q
}

// next waits for the next triggered id.
func (g *fakeGraph) next(ctx context.Context) (int64, error) {
	for {
		g.mu.Lock()
		if len(g.queue) > 0 {
			id := g.queue[0]
			g.queue = g.queue[1:]
			g.mu.Unlock()
			return id, nil
		}
		g.mu.Unlock()
		select {
		case <-g.triggers:
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for a trigger: %w", ctx.Err())
		}
	}
}

// simDB plays a task's Pebble database: a set of immutable SST files,
// named by a counter shared by every task (so a name is one content), that
// flushes add to and compactions replace.
type simDB struct {
	files []string // live SSTs
}

// contents maps every SST name ever made to its content.
type contents struct {
	mu   sync.Mutex
	next int
	data map[string][]byte
}

func newContents() *contents { return &contents{data: map[string][]byte{}} }

func (c *contents) make(rng *rand.Rand) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	name := fmt.Sprintf("%06d.sst", c.next)
	b := make([]byte, 64+rng.IntN(512))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	c.data[name] = append([]byte(name), b...)
	return name
}

func (c *contents) get(name string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data[name]
}

// sharedKeyOf is the shared key an SST's content is stored under.
func (c *contents) sharedKeyOf(name string) string {
	sum := sha256.Sum256(c.get(name))
	return "shared/" + hex.EncodeToString(sum[:]) + ".sst"
}

// flush adds a new SST.
func (d *simDB) flush(c *contents, rng *rand.Rand) { d.files = append(d.files, c.make(rng)) }

// compact replaces up to n random SSTs with one new one.
func (d *simDB) compact(c *contents, rng *rand.Rand, n int) {
	rng.Shuffle(len(d.files), func(i, j int) { d.files[i], d.files[j] = d.files[j], d.files[i] })
	d.files = d.files[min(n, len(d.files)):]
	d.files = append(d.files, c.make(rng))
	sort.Strings(d.files)
}

// snapshot writes the database's snapshot for checkpoint id of task k into
// localDir, as a keyed task does on a barrier, and returns it. It fails if
// the coordinator removes the directory meanwhile (the checkpoint failed).
func (d *simDB) snapshot(c *contents, localDir string, id int64, k int) (operators.TaskSnapshot, error) {
	task := operators.TaskID{Stage: "keyed", Index: k}
	dir := filepath.Join(localDir, fmt.Sprintf("chk-%d", id), task.String())
	// A crashed run may have left a snapshot of this id.
	if err := os.RemoveAll(dir); err != nil {
		return operators.TaskSnapshot{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return operators.TaskSnapshot{}, err
	}
	for _, f := range d.files {
		if err := os.WriteFile(filepath.Join(dir, f), c.get(f), 0o644); err != nil {
			return operators.TaskSnapshot{}, err
		}
	}
	manifest := fmt.Appendf(nil, "manifest of checkpoint %d task %d: %s", id, k, strings.Join(d.files, ","))
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST-000001"), manifest, 0o644); err != nil {
		return operators.TaskSnapshot{}, err
	}
	return operators.TaskSnapshot{Task: task, CheckpointID: id, Dir: dir}, nil
}

// mustSnapshot is snapshot that fails the test on an error.
func (d *simDB) mustSnapshot(t testing.TB, c *contents, localDir string, id int64, k int) operators.TaskSnapshot {
	t.Helper()
	snap, err := d.snapshot(c, localDir, id, k)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func sourcePart(id int64) operators.SourceSnapshot {
	return operators.SourceSnapshot{Task: operators.TaskID{Stage: "source", Index: 0}, CheckpointID: id,
		Positions: []operators.Position{{Topic: "in", Offset: id}}}
}

// skewed is a store whose clock is off by skew: the modification times it
// reports are shifted by it (SigV4 lets a client's clock be off by 15
// minutes).
type skewed struct {
	storage.Store
	skew time.Duration
}

func (s skewed) Stat(ctx context.Context, key string) (storage.Info, error) {
	in, err := s.Store.Stat(ctx, key)
	in.ModTime = in.ModTime.Add(s.skew)
	return in, err
}

func (s skewed) List(ctx context.Context, prefix string) ([]storage.Info, error) {
	infos, err := s.Store.List(ctx, prefix)
	for i := range infos {
		infos[i].ModTime = infos[i].ModTime.Add(s.skew)
	}
	return infos, err
}

// completeCheckpoints reads the metadata of every complete checkpoint and
// savepoint in st.
func completeCheckpoints(ctx context.Context, st storage.Store) ([]*checkpoint.Metadata, error) {
	infos, err := st.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var ms []*checkpoint.Metadata
	for _, in := range infos {
		if !strings.HasSuffix(in.Key, "/_metadata") {
			continue
		}
		rc, err := st.Get(ctx, in.Key)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		m, err := checkpoint.DecodeMetadata(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.Key, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// missingFiles lists the files m references that st lacks or holds with
// another size.
func missingFiles(ctx context.Context, st storage.Store, m *checkpoint.Metadata) []string {
	var missing []string
	for _, ts := range m.Tasks {
		fs := ts.Files
		if ts.InFlight != nil {
			fs = append(fs[:len(fs):len(fs)], *ts.InFlight)
		}
		for _, f := range fs {
			in, err := st.Stat(ctx, f.Key)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				missing = append(missing, fmt.Sprintf("%s (%s of keyed-%d)", f.Key, f.Name, ts.Task))
			case err != nil:
				missing = append(missing, fmt.Sprintf("%s: %v", f.Key, err))
			case in.Size != f.Size:
				missing = append(missing, fmt.Sprintf("%s has %d bytes, want %d", f.Key, in.Size, f.Size))
			}
		}
	}
	return missing
}

// checkRetained returns an error naming every file a complete checkpoint
// or savepoint in st references but st lacks.
func checkRetained(ctx context.Context, st storage.Store) error {
	ms, err := completeCheckpoints(ctx, st)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range ms {
		if miss := missingFiles(ctx, st, m); len(miss) > 0 {
			errs = append(errs, fmt.Errorf("checkpoint %d (savepoint %q) lacks %s", m.CheckpointID, m.Savepoint, strings.Join(miss, ", ")))
		}
	}
	return errors.Join(errs...)
}

// run runs c on g in the background; stop cancels it and returns Run's
// error.
func runCoordinator(ctx context.Context, c *checkpoint.Coordinator, g checkpoint.Graph) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx, g) }()
	return func() error {
		cancel()
		return <-errc
	}
}

// await waits for a value on ch.
func await[T any](t testing.TB, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// eventually polls cond until it holds or ctx ends.
func eventually(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}
