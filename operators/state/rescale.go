package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"
)

// RescaleSource is one old task's part of a rescale: a checkpoint
// directory (what Checkpoint made, as OpenFrom takes it) and the key
// groups that task held.
type RescaleSource struct {
	Dir       string
	KeyGroups KeyGroupRange
}

// RescaleStats say how OpenRescaled built a task's state.
type RescaleStats struct {
	// Base is the index of the source whose files were linked (and
	// excised to the new range); Copied are the keys copied from the
	// other sources into ingested SSTs.
	Base   int
	Copied int64
}

// OpenRescaled builds the state of the key groups opts.KeyGroups from the
// checkpoints of old tasks that held them, when the number of tasks
// changed (a restore with another job.parallelism; MaxParallelism cannot
// change), and opens it in liveDir as OpenFrom does. workDir is scratch
// space for the other sources' databases and SSTs; it is removed.
//
// The overlaps of the sources' key groups with opts.KeyGroups must cover
// it exactly once. The source with the biggest overlap is the base: its
// files are linked as OpenFrom links them, and the key groups outside the
// new range are excised (pebble.DB.Excise: the SSTs that straddle the
// range become virtual SSTs over the same files; nothing is rewritten).
// Each other source's key groups are read from its database, in key
// order, into an SST that is ingested (pebble.DB.Ingest). Growing the
// number of tasks thus copies no data (each new task lies within one old
// task); shrinking it copies the state of the tasks merged into another.
//
// Every state key, timers included, starts with its key group, so this
// moves all of a key group's state; the backend's own keys (MaxParallelism)
// are checked in every source.
func OpenRescaled(sources []RescaleSource, workDir, liveDir string, opts Options) (*Backend, RescaleStats, error) {
	var stats RescaleStats
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, stats, err
	}
	want := opts.KeyGroups
	parts, err := rescaleParts(sources, want)
	if err != nil {
		return nil, stats, err
	}
	base := 0
	for i, p := range parts {
		if p.overlap.Len() > parts[base].overlap.Len() {
			base = i
		}
	}
	stats.Base = parts[base].source
	if err := os.RemoveAll(workDir); err != nil {
		return nil, stats, fmt.Errorf("state: rescale: clear %s: %w", workDir, err)
	}
	if err := os.MkdirAll(workDir, dirMode); err != nil {
		return nil, stats, fmt.Errorf("state: rescale: %w", err)
	}
	defer func() { _ = os.RemoveAll(workDir) }()

	b, err := OpenFrom(sources[stats.Base].Dir, liveDir, opts)
	if err != nil {
		return nil, stats, fmt.Errorf("state: rescale to %v: base %v: %w", want, sources[stats.Base].KeyGroups, err)
	}
	fail := func(err error) (*Backend, RescaleStats, error) {
		_ = b.Close()
		return nil, stats, fmt.Errorf("state: rescale to %v: %w", want, err)
	}
	ctx := context.Background()
	// Each old task's per-task watermarks (rescale_wm.go), read before
	// the excise removes them.
	wms := make([]map[taskWatermark]int64, len(parts))
	if wms[base], err = readTaskWatermarks(b.db, sources[stats.Base].KeyGroups, opts.MaxParallelism); err != nil {
		return fail(fmt.Errorf("read the watermarks of the old task of %v: %w", sources[stats.Base].KeyGroups, err))
	}
	// Excise what lies outside the new range: key groups below it, and
	// those above it up to the backend's own keys (0xff...).
	if want.Start > 0 {
		start, end := KeyGroupRange{Start: 0, End: want.Start}.KeySpan()
		if err := b.db.Excise(ctx, pebble.KeyRange{Start: start, End: end}); err != nil {
			return fail(fmt.Errorf("excise key groups [0,%d): %w", want.Start, err))
		}
	}
	{
		start, _ := KeyGroupRange{Start: want.End, End: want.End + 1}.KeySpan()
		if err := b.db.Excise(ctx, pebble.KeyRange{Start: start, End: []byte{0xff}}); err != nil {
			return fail(fmt.Errorf("excise key groups from %d: %w", want.End, err))
		}
	}
	var ssts []string
	for i, p := range parts {
		if i == base {
			continue
		}
		path := filepath.Join(workDir, fmt.Sprintf("part-%d.sst", i))
		n, wm, err := copyKeyGroups(sources[p.source], p.overlap, filepath.Join(workDir, fmt.Sprintf("db-%d", i)), path, opts, b.db.TableFormat())
		wms[i] = wm
		if err != nil {
			return fail(err)
		}
		stats.Copied += n
		if n > 0 {
			ssts = append(ssts, path)
		}
	}
	if len(ssts) > 0 {
		if err := b.db.Ingest(ctx, ssts); err != nil {
			return fail(fmt.Errorf("ingest the key groups of the other tasks: %w", err))
		}
	}
	if err := writeTaskWatermarks(b, wms); err != nil {
		return fail(err)
	}
	b.log.Info("state rescaled", zap.Stringer("key_groups", want), zap.Int("sources", len(parts)),
		zap.Stringer("base", sources[stats.Base].KeyGroups), zap.Int64("keys_copied", stats.Copied))
	return b, stats, nil
}

// rescalePart is a source's overlap with the new range.
type rescalePart struct {
	source  int
	overlap KeyGroupRange
}

// rescaleParts returns the overlaps of sources with want, in key group
// order, and fails unless they cover want exactly once.
func rescaleParts(sources []RescaleSource, want KeyGroupRange) ([]rescalePart, error) {
	var parts []rescalePart
	for i, s := range sources {
		o := KeyGroupRange{Start: max(s.KeyGroups.Start, want.Start), End: min(s.KeyGroups.End, want.End)}
		if o.Len() > 0 {
			parts = append(parts, rescalePart{source: i, overlap: o})
		}
	}
	slices.SortFunc(parts, func(a, b rescalePart) int { return cmp.Compare(a.overlap.Start, b.overlap.Start) })
	next := want.Start
	for _, p := range parts {
		if p.overlap.Start != next {
			if p.overlap.Start < next {
				return nil, fmt.Errorf("state: rescale to %v: old tasks' key groups overlap at %d", want, p.overlap.Start)
			}
			return nil, fmt.Errorf("state: rescale to %v: no old task held key groups [%d,%d)", want, next, p.overlap.Start)
		}
		next = p.overlap.End
	}
	if next != want.End {
		return nil, fmt.Errorf("state: rescale to %v: no old task held key groups [%d,%d)", want, next, want.End)
	}
	return parts, nil
}

// copyKeyGroups restores the checkpoint of src into dbDir and writes the
// state of key groups r, as it reads (merge operands merged, deletions
// applied), into a new SST at path. It returns the number of keys
// written (0: no file is left at path) and the old task's per-task
// watermarks.
func copyKeyGroups(src RescaleSource, r KeyGroupRange, dbDir, path string, opts Options, format sstable.TableFormat) (n int64, wms map[taskWatermark]int64, err error) {
	o := opts
	o.KeyGroups = src.KeyGroups
	old, err := OpenFrom(src.Dir, dbDir, o)
	if err != nil {
		return 0, nil, fmt.Errorf("old task of key groups %v: %w", src.KeyGroups, err)
	}
	defer func() {
		if cerr := old.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if wms, err = readTaskWatermarks(old.db, src.KeyGroups, opts.MaxParallelism); err != nil {
		return 0, nil, fmt.Errorf("read the watermarks of the old task of %v: %w", src.KeyGroups, err)
	}
	lower, upper := r.KeySpan()
	it, err := old.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, nil, fmt.Errorf("read key groups %v of the old task of %v: %w", r, src.KeyGroups, err)
	}
	defer func() {
		if cerr := it.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return 0, nil, err
	}
	po := &pebble.Options{}
	po.EnsureDefaults()
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(f), po.MakeWriterOptions(0, format))
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = w.Set(it.Key(), v)
		}
		if err != nil {
			_ = w.Close()
			return 0, nil, fmt.Errorf("copy key groups %v of the old task of %v: %w", r, src.KeyGroups, err)
		}
		n++
	}
	err = errors.Join(it.Error(), w.Close())
	if err != nil {
		return 0, nil, fmt.Errorf("copy key groups %v of the old task of %v: %w", r, src.KeyGroups, err)
	}
	if n == 0 {
		return 0, wms, os.Remove(path)
	}
	return n, wms, nil
}
