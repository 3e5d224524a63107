package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/inspect"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/operators/state"
)

// ErrExpired: the checkpoint was deleted (expired by retention) while it
// was being verified; the drill proves nothing about it.
var ErrExpired = errors.New("drill: the checkpoint expired while it was being verified")

// Options configure Verify.
type Options struct {
	// ScratchDir is where Verify makes a directory of its own for the
	// downloaded files and the opened state, and removes it at the end.
	// Default: the system's temporary directory.
	ScratchDir string
	// BytesPerSecond paces the downloads; 0: as fast as the storage
	// serves.
	BytesPerSecond int64
	// Progress, if set, is called as the drill advances (after every
	// chunk downloaded), on Verify's goroutine.
	Progress func(Progress)
	// Log receives Pebble's warnings and errors; nothing by default.
	Log *zap.Logger
}

// Progress is how far a drill got.
type Progress struct {
	// Task is the keyed task being verified.
	Task       int
	Files      int // files downloaded
	FilesTotal int
	Bytes      int64 // bytes downloaded
	BytesTotal int64
}

// Report is a drill's result.
type Report struct {
	// Checkpoint names what was verified: its id, or savepoints/NAME.
	Checkpoint   string `json:"checkpoint"`
	CheckpointID int64  `json:"checkpoint_id"`
	Savepoint    string `json:"savepoint,omitempty"`
	// Passed: every file matched its checksum, every task's state opened,
	// and no key lies outside its task's key groups.
	Passed bool `json:"passed"`
	// Reason sums up why it failed; Problems lists every problem found.
	Reason   string   `json:"reason,omitempty"`
	Problems []string `json:"problems,omitempty"`
	// StartedAt and Duration time the drill.
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"-"`
	// Files and Bytes count what was downloaded and checked.
	Files int          `json:"files"`
	Bytes int64        `json:"bytes"`
	Tasks []TaskReport `json:"tasks"`
}

// MarshalJSON adds the duration, as "1.5s" and in seconds.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		plain
		Duration        string  `json:"duration"`
		DurationSeconds float64 `json:"duration_seconds"`
	}{plain(r), r.Duration.String(), r.Duration.Seconds()})
}

// TaskReport is what the drill found of one keyed task.
type TaskReport struct {
	Task      int    `json:"task"`
	KeyGroups [2]int `json:"key_groups"`
	Files     int    `json:"files"`
	Bytes     int64  `json:"bytes"`
	// Opened: its state opened with Pebble. Keys counts them, by
	// operator in Operators (every operator of the job graph, with keys or
	// not); OutOfRange and Malformed are keys a healthy task has none of.
	Opened     bool                 `json:"opened"`
	Keys       int64                `json:"keys"`
	Operators  []state.OperatorKeys `json:"operators"`
	OutOfRange int64                `json:"out_of_range,omitempty"`
	Malformed  int64                `json:"malformed,omitempty"`
	// InFlight counts the in-flight elements (batches of records an
	// unaligned checkpoint replays) that decoded.
	InFlight int `json:"in_flight,omitempty"`
}

// Verify runs the recovery drill on m, read from st (rooted at the job).
// It returns a report whether the checkpoint passed or failed; an error
// means the drill could not be carried out (storage unreachable, scratch
// directory unusable, ctx ended, or ErrExpired).
func Verify(ctx context.Context, st storage.Store, m *checkpoint.Metadata, o Options) (*Report, error) {
	start := time.Now()
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	r := &Report{Checkpoint: inspect.NameOf(m), CheckpointID: m.CheckpointID, Savepoint: m.Savepoint, StartedAt: start}
	scratch, err := os.MkdirTemp(o.ScratchDir, "drill-")
	if err != nil {
		return nil, fmt.Errorf("drill: scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	v := &verifier{st: st, m: m, o: o, r: r, scratch: scratch}
	if o.BytesPerSecond > 0 {
		v.limit = rate.NewLimiter(rate.Limit(o.BytesPerSecond), int(min(o.BytesPerSecond, chunk)))
	}
	for _, t := range m.Tasks {
		v.p.FilesTotal += len(t.Files)
		for _, f := range t.Files {
			v.p.BytesTotal += f.Size
		}
		if t.InFlight != nil {
			v.p.FilesTotal++
			v.p.BytesTotal += t.InFlight.Size
		}
	}
	for _, t := range m.Tasks {
		if err := v.task(ctx, t); err != nil {
			return nil, err
		}
	}
	r.Duration = time.Since(start)
	r.Passed = len(r.Problems) == 0
	if !r.Passed {
		r.Reason = r.Problems[0]
		if n := len(r.Problems); n > 1 {
			r.Reason += fmt.Sprintf(" (and %d more problems)", n-1)
		}
	}
	return r, nil
}

// chunk is the most the pacing lets through at once.
const chunk = 256 << 10

type verifier struct {
	st      storage.Store
	m       *checkpoint.Metadata
	o       Options
	r       *Report
	scratch string
	limit   *rate.Limiter
	p       Progress
}

func (v *verifier) problem(format string, args ...any) {
	v.r.Problems = append(v.r.Problems, fmt.Sprintf(format, args...))
}

// task verifies keyed task t: its files, then its state.
func (v *verifier) task(ctx context.Context, t checkpoint.TaskState) error {
	v.p.Task = t.Task
	tr := TaskReport{Task: t.Task, KeyGroups: t.KeyGroups}
	name := t.ID().String()
	dir := filepath.Join(v.scratch, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	ok := true
	for _, f := range t.Files {
		good, err := v.download(ctx, f, filepath.Join(dir, f.Name), name)
		if err != nil {
			return err
		}
		ok = ok && good
		tr.Files++
		tr.Bytes += f.Size
	}
	if t.InFlight != nil {
		path := filepath.Join(v.scratch, name+"-in-flight.json")
		good, err := v.download(ctx, *t.InFlight, path, name)
		if err != nil {
			return err
		}
		tr.Files++
		tr.Bytes += t.InFlight.Size
		if good {
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("drill: %w", err)
			}
			elems, err := checkpoint.DecodeInFlight(data)
			if err != nil {
				v.problem("%s: in-flight records %s do not decode: %v", name, t.InFlight.Key, err)
			}
			tr.InFlight = len(elems)
		}
	}
	v.r.Files += tr.Files
	v.r.Bytes += tr.Bytes
	if ok {
		v.open(t, dir, &tr)
	}
	v.r.Tasks = append(v.r.Tasks, tr)
	return os.RemoveAll(dir)
}

// download fetches f and checks it; good is false if it is missing or
// corrupted (a problem recorded).
func (v *verifier) download(ctx context.Context, f checkpoint.FileHandle, path, task string) (good bool, err error) {
	err = checkpoint.DownloadFile(ctx, v.st, f, path, v.wrap(ctx))
	v.p.Files++
	v.progress()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, checkpoint.ErrStateCorrupt):
		v.problem("%s: state file %s (%s) is corrupted: %v", task, f.Key, f.Name, err)
		return false, nil
	case errors.Is(err, storage.ErrNotFound):
		if _, merr := checkpoint.ReadMetadata(ctx, v.st, v.r.Checkpoint); errors.Is(merr, storage.ErrNotFound) {
			return false, fmt.Errorf("%w: %s (its file %s went first)", ErrExpired, v.r.Checkpoint, f.Key)
		}
		v.problem("%s: state file %s (%s) is missing from the checkpoint storage", task, f.Key, f.Name)
		return false, nil
	default:
		return false, fmt.Errorf("drill: %w", err)
	}
}

// wrap paces and counts a download.
func (v *verifier) wrap(ctx context.Context) func(io.Reader) io.Reader {
	return func(r io.Reader) io.Reader { return &paced{ctx: ctx, r: r, v: v} }
}

func (v *verifier) progress() {
	if v.o.Progress != nil {
		v.o.Progress(v.p)
	}
}

type paced struct {
	ctx context.Context
	r   io.Reader
	v   *verifier
}

func (p *paced) Read(b []byte) (int, error) {
	if len(b) > chunk {
		b = b[:chunk]
	}
	if l := p.v.limit; l != nil {
		if len(b) > l.Burst() {
			b = b[:l.Burst()]
		}
		if err := l.WaitN(p.ctx, len(b)); err != nil {
			return 0, err
		}
	}
	n, err := p.r.Read(b)
	p.v.p.Bytes += int64(n)
	p.v.progress()
	return n, err
}

// open opens task t's downloaded state with Pebble, as a restore does, and
// counts its keys.
func (v *verifier) open(t checkpoint.TaskState, dir string, tr *TaskReport) {
	name := t.ID().String()
	opts := state.Options{
		MaxParallelism: v.m.MaxParallelism,
		KeyGroups:      state.KeyGroupRange{Start: t.KeyGroups[0], End: t.KeyGroups[1]},
		Logger:         v.o.Log.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel)),
	}
	b, err := state.OpenFrom(dir, filepath.Join(v.scratch, name+"-live"), opts)
	if err != nil {
		v.problem("%s: its state does not open: %v", name, err)
		return
	}
	defer b.Close()
	tr.Opened = true
	counts, err := b.CountKeys()
	if err != nil {
		v.problem("%s: its state cannot be read: %v", name, err)
		return
	}
	tr.Keys, tr.OutOfRange, tr.Malformed = counts.Keys(), counts.OutOfRange, counts.Malformed
	tr.Operators = withGraphOperators(counts.Operators, v.m.TopologyDescription)
	if counts.OutOfRange > 0 {
		v.problem("%s: %d keys lie outside its key groups [%d,%d)", name, counts.OutOfRange, t.KeyGroups[0], t.KeyGroups[1])
	}
	if counts.Malformed > 0 {
		v.problem("%s: %d keys follow no layout of the state backend", name, counts.Malformed)
	}
	if graph := operatorNames(v.m.TopologyDescription); len(graph) > 0 {
		for _, o := range counts.Operators {
			if !graph[o.Operator] {
				v.problem("%s: %d keys of operator %q, which the job graph does not have", name, o.Keys(), o.Operator)
			}
		}
	}
}

// operatorNames are the names of the operators a topology description
// lists ("operator name=NAME ...", "source-operator name=NAME ...").
func operatorNames(desc []string) map[string]bool {
	names := map[string]bool{}
	for _, line := range desc {
		kind, rest, _ := strings.Cut(line, " ")
		if kind != "operator" && kind != "source-operator" {
			continue
		}
		for f := range strings.FieldsSeq(rest) {
			if n, ok := strings.CutPrefix(f, "name="); ok {
				names[n] = true
			}
		}
	}
	return names
}

// withGraphOperators adds to counts, with no keys, the keyed operators of
// the job graph that have no state.
func withGraphOperators(counts []state.OperatorKeys, desc []string) []state.OperatorKeys {
	have := map[string]bool{}
	for _, c := range counts {
		have[c.Operator] = true
	}
	out := append([]state.OperatorKeys(nil), counts...)
	for _, line := range desc {
		kind, rest, _ := strings.Cut(line, " ")
		if kind != "operator" {
			continue
		}
		for f := range strings.FieldsSeq(rest) {
			if n, ok := strings.CutPrefix(f, "name="); ok && !have[n] {
				out = append(out, state.OperatorKeys{Operator: n})
				have[n] = true
			}
		}
	}
	return out
}
