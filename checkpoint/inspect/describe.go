package inspect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
)

// Details describe one checkpoint or savepoint.
type Details struct {
	Entry
	Job string `json:"job"`
	// Topology fingerprints the job graph; Operators describe it, one
	// line per element (parallelism, every operator with its settings).
	Topology       string    `json:"topology"`
	Operators      []string  `json:"operators"`
	TriggeredAt    time.Time `json:"triggered_at"`
	MaxParallelism int       `json:"max_parallelism"`
	Unaligned      bool      `json:"unaligned,omitempty"`
	// Partitions are the source positions: where each partition resumes.
	Partitions []Partition `json:"partitions"`
	// Tasks are the keyed tasks' state.
	Tasks []Task `json:"tasks"`
	// Pending are the sink transactions to commit once it is complete.
	Pending []checkpoint.Transaction `json:"pending_transactions"`
	Sink    *checkpoint.SinkPool     `json:"sink,omitempty"`
	Sinks   []checkpoint.SinkPool    `json:"sinks,omitempty"`
	// Missing lists the files the storage lacks or holds with another
	// size: with any, it cannot be restored.
	Missing []string `json:"missing,omitempty"`
}

// Partition is a source partition's stored position.
type Partition struct {
	Topic      string `json:"topic"`
	Partition  int32  `json:"partition"`
	Offset     int64  `json:"offset"`
	SourceTask int    `json:"source_task"`
}

// Task is a keyed task's part.
type Task struct {
	Task      int    `json:"task"`
	KeyGroups [2]int `json:"key_groups"`
	Files     []File `json:"files"`
	// Size is the size of its files (in-flight records included).
	Size      int64 `json:"size"`
	InFlight  *File `json:"in_flight,omitempty"`
	Watermark int64 `json:"watermark"`
}

// File is a stored state file.
type File struct {
	checkpoint.FileHandle
	// Shared: content-addressed under shared/, referenced by every
	// checkpoint that holds it; otherwise the checkpoint's own.
	Shared bool `json:"shared"`
	// Stored: the storage holds it with its size.
	Stored bool `json:"stored"`
}

// statConcurrency bounds the existence checks made at once.
const statConcurrency = 8

// Describe reads the checkpoint or savepoint name designates (see
// Resolve; "" for the one a start would restore) and checks that the
// storage holds each of its files with its size.
func Describe(ctx context.Context, st storage.Store, name string) (*Details, error) {
	m, err := Resolve(ctx, st, name)
	if err != nil {
		return nil, err
	}
	fences, err := checkpoint.LoadFences(ctx, st)
	if err != nil {
		return nil, err
	}
	e := entry(ctx, st, NameOf(m), fences)
	if e.Metadata == nil {
		return nil, errors.New(e.Problem)
	}
	if m.Savepoint == "" {
		cl, err := checkpoint.List(ctx, st)
		if err != nil {
			return nil, err
		}
		var prev *checkpoint.Metadata // the complete checkpoint before m
		for i := len(cl.Complete) - 1; i >= 0; i-- {
			if id := cl.Complete[i]; id < m.CheckpointID {
				if pm, err := checkpoint.ReadMetadata(ctx, st, strconv.FormatInt(id, 10)); err == nil {
					prev = pm
				}
				break
			}
		}
		e.Incremental = incremental(m, prev)
		r, _, _ := restoreChoice(ctx, st, fences)
		e.Restore = r == e.Name
	} else {
		e.Incremental = e.Size
	}
	d := &Details{
		Entry: e, Job: m.Job, Topology: m.Topology, Operators: m.TopologyDescription,
		TriggeredAt: m.TriggeredAt, MaxParallelism: m.MaxParallelism, Unaligned: m.Unaligned,
		Pending: m.PendingTransactions, Sink: m.Sink, Sinks: m.Sinks,
	}
	for _, s := range m.Sources {
		for _, p := range s.Positions {
			d.Partitions = append(d.Partitions, Partition{Topic: p.Topic, Partition: p.Partition, Offset: p.Offset, SourceTask: s.Task})
		}
	}
	var checks []*File
	for _, t := range m.Tasks {
		dt := Task{Task: t.Task, KeyGroups: t.KeyGroups, Watermark: t.Watermark}
		for _, f := range t.Files {
			dt.Files = append(dt.Files, File{FileHandle: f, Shared: strings.HasPrefix(f.Key, "shared/")})
			dt.Size += f.Size
		}
		if t.InFlight != nil {
			dt.InFlight = &File{FileHandle: *t.InFlight}
			dt.Size += t.InFlight.Size
		}
		d.Tasks = append(d.Tasks, dt)
	}
	for i := range d.Tasks {
		for j := range d.Tasks[i].Files {
			checks = append(checks, &d.Tasks[i].Files[j])
		}
		if d.Tasks[i].InFlight != nil {
			checks = append(checks, d.Tasks[i].InFlight)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(statConcurrency)
	for _, f := range checks {
		g.Go(func() error {
			in, err := st.Stat(gctx, f.Key)
			switch {
			case err == nil:
				f.Stored = in.Size == f.Size
			case errors.Is(err, storage.ErrNotFound):
			default:
				return fmt.Errorf("inspect: check %s: %w", f.Key, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, f := range checks {
		if !f.Stored {
			d.Missing = append(d.Missing, f.Key)
		}
	}
	if len(d.Missing) > 0 && d.Valid {
		d.Valid = false
		d.Problem = fmt.Sprintf("%d of its files are missing from the storage or have another size: it cannot be restored", len(d.Missing))
	}
	return d, nil
}

// NameOf is how Describe, List and --from name m: its checkpoint id, or
// savepoints/NAME.
func NameOf(m *checkpoint.Metadata) string {
	if m.Savepoint != "" {
		return "savepoints/" + m.Savepoint
	}
	return strconv.FormatInt(m.CheckpointID, 10)
}

// ExportName is the savepoint name Export gives m by default: a
// savepoint's own name, checkpoint-<id> for a checkpoint.
func ExportName(m *checkpoint.Metadata) string {
	if m.Savepoint != "" {
		return m.Savepoint
	}
	return "checkpoint-" + strconv.FormatInt(m.CheckpointID, 10)
}

// Export copies the checkpoint or savepoint m, self-contained, from src
// into savepoints/<name>/ of dst (both rooted at the job), checking every
// file's checksum and writing the metadata last: a processor whose
// checkpoint.storage is dst's root restores it with --from
// savepoints/NAME. See checkpoint.ExportSavepoint.
func Export(ctx context.Context, src, dst storage.Store, m *checkpoint.Metadata, name string, progress func(done, total int64)) (string, error) {
	return checkpoint.ExportSavepoint(ctx, src, dst, m, name, progress)
}
