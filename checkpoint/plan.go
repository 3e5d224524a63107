package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint/storage"
)

// RestorePlan is what storage offers a starting job.
type RestorePlan struct {
	// Newest is the newest complete checkpoint that may be restored (nil:
	// none). Its pending transactions tell what output is committed,
	// whichever checkpoint is restored.
	Newest *Metadata
	// Target is the checkpoint to restore: Newest, or the checkpoint or
	// savepoint named by RestoreOptions.From (Named). Nil: a fresh start.
	Target *Metadata
	Named  bool
	// Older are the other retained complete checkpoints that may be
	// restored into this topology, newest first: fallbacks.
	Older []*Metadata
	// AlreadyRestored: From named a restore that the newest checkpoint's
	// lineage started from already (a container restarted with the same
	// arguments), so Newest is restored instead.
	AlreadyRestored bool
	// Rescale, when Target's graph differs from this job's only in its
	// task counts, says how (see Rescale): its state is redistributed
	// over the new tasks by key group.
	Rescale string
}

// ByID returns the checkpoint id among Newest and Older, or nil.
func (p *RestorePlan) ByID(id int64) *Metadata {
	if p.Newest != nil && p.Newest.CheckpointID == id {
		return p.Newest
	}
	for _, m := range p.Older {
		if m.CheckpointID == id {
			return m
		}
	}
	return nil
}

// OlderIDs lists the ids of Older, newest first.
func (p *RestorePlan) OlderIDs() []int64 {
	ids := make([]int64, len(p.Older))
	for i, m := range p.Older {
		ids[i] = m.CheckpointID
	}
	return ids
}

// Origin is how a restore named with from ("12", "chk-0000000012",
// "savepoints/NAME" or "NAME") is recorded in the lineage it starts
// (Metadata.Origin): "checkpoint:12" or "savepoint:NAME".
func Origin(from string) string {
	s := strings.TrimPrefix(from, chkPrefix)
	if id, err := strconv.ParseInt(s, 10, 64); err == nil && id > 0 {
		return "checkpoint:" + strconv.FormatInt(id, 10)
	}
	return "savepoint:" + strings.TrimSuffix(strings.TrimPrefix(from, savepointsDir), "/")
}

// fromOrigin is the Origin a restore named by from records, known from the
// name alone.
func fromOrigin(from string) string {
	s := strings.TrimPrefix(from, chkPrefix)
	if id, err := strconv.ParseInt(s, 10, 64); err == nil && id > 0 {
		return "checkpoint:" + strconv.FormatInt(id, 10)
	}
	return "savepoint:" + strings.TrimSuffix(strings.TrimPrefix(from, savepointsDir), "/")
}

// PlanRestore reads what storage holds and decides what a start may
// restore: the newest complete checkpoint that the lease fences allow and
// that can be read (or, with Fallback, the newest readable one), the target
// From names, and the older retained checkpoints with this topology. It
// refuses a target of another topology with an error that says what
// differs.
func PlanRestore(ctx context.Context, st storage.Store, o RestoreOptions) (*RestorePlan, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	l, err := list(ctx, st)
	if err != nil {
		return nil, err
	}
	p := &RestorePlan{}
	for i := len(l.complete) - 1; i >= 0; i-- {
		id := l.complete[i]
		m, err := readMetadata(ctx, st, MetadataKey(id))
		if errors.Is(err, storage.ErrNotFound) {
			continue // expired since it was listed
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
				return nil, err
			}
			if p.Newest != nil {
				o.Log.Warn("older checkpoint cannot be read: not a fallback", zap.Int64("checkpoint", id), zap.Error(err))
				continue
			}
			if !o.Fallback {
				return nil, fmt.Errorf("newest checkpoint %d cannot be restored: %w; to restore the previous retained checkpoint instead, run with --fallback (output written since then is written again), or name one with --from", id, err)
			}
			o.Log.Warn("newest checkpoint is corrupted: falling back to the previous one; output written since that one is written again", zap.Int64("checkpoint", id), zap.Error(err))
			continue
		}
		if o.Fences != nil && !o.Fences.Valid(m) {
			o.Log.Warn("checkpoint completed by an instance that had lost the job (a zombie): never restored", zap.Int64("checkpoint", id), zap.Int64("generation", m.Generation))
			continue
		}
		if p.Newest == nil {
			p.Newest = m
		} else if _, err := checkTopology(m, o.Topology, o.Description); err == nil {
			p.Older = append(p.Older, m)
		}
	}
	if p.Newest == nil && len(l.complete) > 0 && o.From == "" {
		return nil, fmt.Errorf("%w: none of the %d complete checkpoints can be restored (corrupted, or completed by an instance that had lost the job); name a savepoint with --from, or start over with --fresh", ErrCorrupt, len(l.complete))
	}
	switch {
	case o.Fresh:
		return p, nil
	case o.From != "" && p.Newest != nil && p.Newest.Origin == Origin(o.From):
		// The checkpoint or savepoint may be gone (collected) by now.
		o.Log.Warn("--from ignored: the newest checkpoint descends from that restore already (started again with the same arguments?); restoring the newest checkpoint",
			zap.String("from", o.From), zap.Int64("checkpoint", p.Newest.CheckpointID))
		p.Target, p.AlreadyRestored = p.Newest, true
	case o.From != "":
		t, err := readMetadata(ctx, st, fromKey(o.From))
		if errors.Is(err, storage.ErrNotFound) && p.Newest != nil && p.Newest.Origin == fromOrigin(o.From) {
			// A restart with the same arguments after the named
			// checkpoint was collected: its restore was recorded, and
			// the newest checkpoint descends from it.
			o.Log.Warn("--from ignored: the named checkpoint is gone, and the newest checkpoint descends from its restore already (run again with the same arguments?); restoring the newest checkpoint",
				zap.String("from", o.From), zap.Int64("checkpoint", p.Newest.CheckpointID))
			p.Target, p.AlreadyRestored = p.Newest, true
			break
		}
		if err != nil {
			return nil, fmt.Errorf("--from %s: %w", o.From, err)
		}
		if t.Savepoint == "" && o.Fences != nil && !o.Fences.Valid(t) {
			return nil, fmt.Errorf("--from %s: checkpoint %d was completed by an instance that had lost the job (a zombie) and cannot be restored", o.From, t.CheckpointID)
		}
		p.Target, p.Named = t, true
	default:
		p.Target = p.Newest
	}
	if p.Target != nil {
		if p.Rescale, err = checkTopology(p.Target, o.Topology, o.Description); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// TopologyError says how checkpoint m's job graph differs from this job's
// (fingerprint topology, described by desc) and how to proceed.
func TopologyError(m *Metadata, topology string, desc []string) error {
	what := "checkpoint " + strconv.FormatInt(m.CheckpointID, 10)
	if m.Savepoint != "" {
		what = "savepoint " + m.Savepoint
	}
	diff := DescribeDiff(m.TopologyDescription, desc)
	if len(m.TopologyDescription) == 0 {
		diff = fmt.Sprintf("fingerprint %s, this job %s (the checkpoint predates descriptions)", m.Topology, topology)
	}
	return fmt.Errorf("%w: %s cannot be restored into this job: %s. Its state belongs to the old graph. Restore the previous configuration, or start without that state: run once with --fresh (state starts empty, sources start at source.start_offset, output already committed stays) or use a new job.name",
		ErrTopologyMismatch, what, diff)
}

// DescribeDiff lists, in words, how topology description now differs from
// was: the elements removed, added and changed (matched by their name=).
func DescribeDiff(was, now []string) string {
	name := func(line string) string {
		for f := range strings.FieldsSeq(line) {
			if v, ok := strings.CutPrefix(f, "name="); ok {
				return v
			}
		}
		k, _, _ := strings.Cut(line, "=")
		return k
	}
	old := map[string]string{}
	for _, l := range was {
		old[name(l)] = l
	}
	var parts []string
	seen := map[string]bool{}
	for _, l := range now {
		n := name(l)
		seen[n] = true
		switch o, ok := old[n]; {
		case !ok:
			parts = append(parts, fmt.Sprintf("added %q", l))
		case o != l:
			parts = append(parts, fmt.Sprintf("%q became %q", o, l))
		}
	}
	for _, l := range was {
		if !seen[name(l)] {
			parts = append(parts, fmt.Sprintf("removed %q", l))
		}
	}
	if len(parts) == 0 {
		return "the graph is described the same but fingerprinted differently"
	}
	return strings.Join(parts, "; ")
}

// Rebase writes checkpoint id: a copy of m (a retained checkpoint or a
// savepoint) that starts a new lineage named origin, written by lease
// generation gen, listing pending as its pending transactions. It is how a
// named restore or a fallback is made durable before any transaction is
// committed or aborted: a crash after it restores the copy, a crash before
// it changed nothing. Exclusive files are copied into the new checkpoint's
// directory; a savepoint's state files are copied into shared/ (by content)
// unless there already. sink and sinks, when either is given, replace the
// pools m records (those of the job as it runs now). topology and desc,
// when set, replace m's fingerprint and description (a rescale restores
// the old tasks' state into a graph of other task counts).
func Rebase(ctx context.Context, st storage.Store, m *Metadata, id, gen int64, origin string, pending []Transaction, sink *SinkPool, sinks []SinkPool, topology string, desc []string) (*Metadata, error) {
	nm := *m
	nm.CheckpointID, nm.Generation, nm.Origin, nm.Savepoint = id, gen, origin, ""
	nm.TriggeredAt = time.Now()
	nm.CompletedAt = nm.TriggeredAt
	nm.PendingTransactions = append([]Transaction(nil), pending...)
	if sink != nil || len(sinks) > 0 {
		nm.Sink, nm.Sinks = sink, sinks
	}
	if len(desc) > 0 {
		nm.TopologyDescription = desc
	}
	if topology != "" {
		nm.Topology = topology
	}
	nm.Tasks = nil
	for _, t := range m.Tasks {
		nt := t
		nt.Files = nil
		for _, f := range t.Files {
			nf := f
			switch {
			case strings.HasPrefix(f.Key, sharedDir):
			case strings.HasSuffix(f.Name, ".sst"):
				nf.Key = sharedKey(f.SHA256)
				if _, err := st.Stat(ctx, nf.Key); errors.Is(err, storage.ErrNotFound) {
					if err := copyObject(ctx, st, f.Key, nf.Key, f.Size); err != nil {
						return nil, err
					}
				} else if err != nil {
					return nil, fmt.Errorf("checkpoint: %w", err)
				}
			default:
				nf.Key = fmt.Sprintf("%sg%d/%s/%s", CheckpointDir(id), gen, t.ID(), f.Name)
				if err := copyObject(ctx, st, f.Key, nf.Key, f.Size); err != nil {
					return nil, err
				}
			}
			nt.Files = append(nt.Files, nf)
		}
		if t.InFlight != nil {
			nf := *t.InFlight
			nf.Key = fmt.Sprintf("%sg%d/%s/%s", CheckpointDir(id), gen, t.ID(), nf.Name)
			if err := copyObject(ctx, st, t.InFlight.Key, nf.Key, nf.Size); err != nil {
				return nil, err
			}
			nt.InFlight = &nf
		}
		nm.Tasks = append(nm.Tasks, nt)
	}
	data, err := EncodeMetadata(&nm)
	if err != nil {
		return nil, err
	}
	if err := st.PutIfAbsent(ctx, MetadataKey(id), bytes.NewReader(data), int64(len(data))); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return nil, fmt.Errorf("%w (checkpoint %d written meanwhile)", ErrZombie, id)
		}
		return nil, fmt.Errorf("checkpoint: write checkpoint %d: %w", id, err)
	}
	return &nm, nil
}

// NextID is the id after every checkpoint id storage holds.
func NextID(ctx context.Context, st storage.Store) (int64, error) {
	l, err := list(ctx, st)
	if err != nil {
		return 0, err
	}
	return l.maxID + 1, nil
}
