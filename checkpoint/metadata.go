package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tidemark/tidemark/operators"
)

// MetadataVersion is the version of the _metadata format this build writes.
// It reads it and versions 1 and 2 (which lack the fields marked "since 2"
// and "since 3": a version 2 checkpoint is a legacy job's, whose stages
// are "source" and "keyed" and whose one source has no name).
const MetadataVersion = 3

const metadataFormat = "tidemark-checkpoint"

// Errors a reader of metadata branches on.
var (
	// ErrCorrupt: the metadata's checksum does not match or it does not
	// parse.
	ErrCorrupt = errors.New("checkpoint: metadata corrupted")
	// ErrUnknownVersion: the metadata was written by an incompatible
	// version of Tidemark.
	ErrUnknownVersion = errors.New("checkpoint: unknown metadata version")
)

// Metadata describes one complete checkpoint or savepoint. Writing it is
// the single act that makes a checkpoint complete.
type Metadata struct {
	Job string `json:"job"`
	// Topology fingerprints the job graph; a checkpoint restores only into
	// the same topology. TopologyDescription (since 2) is what was
	// fingerprinted, one line per element, so that a refusal can say what
	// differs.
	Topology            string   `json:"topology"`
	TopologyDescription []string `json:"topology_description,omitempty"`
	CheckpointID        int64    `json:"checkpoint_id"`
	// Generation (since 2) is the job lease generation of the instance
	// that wrote it (0: before leases).
	Generation int64 `json:"generation,omitempty"`
	// Origin (since 2) names the restore that started this checkpoint's
	// lineage: a checkpoint or savepoint named with --from, or a fallback;
	// empty for a lineage that started fresh.
	Origin         string    `json:"origin,omitempty"`
	Savepoint      string    `json:"savepoint,omitempty"`
	TriggeredAt    time.Time `json:"triggered_at"`
	CompletedAt    time.Time `json:"completed_at"`
	MaxParallelism int       `json:"max_parallelism"`
	// Unaligned says at least one task's barrier was not aligned.
	Unaligned bool          `json:"unaligned,omitempty"`
	Sources   []SourceState `json:"sources"`
	Tasks     []TaskState   `json:"tasks"`
	// PendingTransactions are sink transactions pre-committed for this
	// checkpoint, to commit once it is complete.
	PendingTransactions []Transaction `json:"pending_transactions,omitempty"`
	// Sink (since 2) is the transactional id pool the sink used, so that
	// recovery after a change of prefix or parallelism still finds every
	// id a transaction may linger on. A job graph's checkpoints record
	// Sinks instead (since 3): one pool per sink-bearing stage.
	Sink  *SinkPool  `json:"sink,omitempty"`
	Sinks []SinkPool `json:"sinks,omitempty"`
}

// SinkPool is a sink-bearing stage's transactional id pool:
// <prefix>-<stage>-<task>-<slot> (<prefix>-<task>-<slot> for the legacy
// stage, Stage "") for task below Tasks and slot below PoolSize.
type SinkPool struct {
	TransactionalIDPrefix string `json:"transactional_id_prefix"`
	// Stage (since 3) is the stage; empty for the single-chain sink.
	Stage    string `json:"stage,omitempty"`
	Tasks    int    `json:"tasks"`
	PoolSize int    `json:"pool_size"`
}

// SinkPools returns every pool the checkpoint records: the single-chain
// sink's (Sink, stage "") and each stage's (Sinks).
func (m *Metadata) SinkPools() []SinkPool {
	var out []SinkPool
	if m.Sink != nil {
		out = append(out, *m.Sink)
	}
	return append(out, m.Sinks...)
}

// SourceState is a source task's part of a checkpoint.
type SourceState struct {
	Task int `json:"task"`
	// Stage (since 3) is the task's stage, "source:<name>"; empty for a
	// legacy job's stage "source".
	Stage string `json:"stage,omitempty"`
	// Source (since 3) names the source the positions are in; empty for
	// a legacy job's one source.
	Source    string               `json:"source,omitempty"`
	Positions []operators.Position `json:"positions"`
	Watermark int64                `json:"watermark"`
}

// ID is the source task's id.
func (s SourceState) ID() operators.TaskID {
	if s.Stage == "" {
		return operators.TaskID{Stage: "source", Index: s.Task}
	}
	return operators.TaskID{Stage: s.Stage, Index: s.Task}
}

// TaskState is a channel task's part of a checkpoint: a keyed task's
// state, or a stateless task's in-flight data.
type TaskState struct {
	Task int `json:"task"`
	// Stage (since 3) is the task's stage; empty for a legacy job's stage
	// "keyed".
	Stage string `json:"stage,omitempty"`
	// KeyGroups is the range [start, end) of key groups the task owned.
	KeyGroups [2]int `json:"key_groups"`
	// Files are the task's state files (a Pebble checkpoint).
	Files []FileHandle `json:"files"`
	// InFlight holds the records of an unaligned checkpoint to replay.
	InFlight  *FileHandle `json:"in_flight,omitempty"`
	Watermark int64       `json:"watermark"`
}

// ID is the task's id.
func (t TaskState) ID() operators.TaskID {
	if t.Stage == "" {
		return operators.TaskID{Stage: "keyed", Index: t.Task}
	}
	return operators.TaskID{Stage: t.Stage, Index: t.Task}
}

// stageField is how a task's stage is stored: empty for the legacy
// stages, which versions 1 and 2 imply.
func stageField(id operators.TaskID) string {
	if id.Stage == "source" || id.Stage == "keyed" {
		return ""
	}
	return id.Stage
}

// FileHandle is one stored file.
type FileHandle struct {
	// Name is the file's local name (Pebble file names matter).
	Name string `json:"name"`
	// Key is the object's key relative to the job's root.
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Transaction is a sink transaction pre-committed in a checkpoint.
type Transaction = operators.Transaction

// StateSize is the total size of the checkpoint's state files.
func (m *Metadata) StateSize() int64 {
	var n int64
	for _, t := range m.Tasks {
		for _, f := range t.Files {
			n += f.Size
		}
		if t.InFlight != nil {
			n += t.InFlight.Size
		}
	}
	return n
}

// envelope is the on-disk form: the body's exact bytes are checksummed.
type envelope struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	SHA256  string          `json:"sha256"`
	Body    json.RawMessage `json:"body"`
}

// EncodeMetadata serialises m with its version and checksum.
func EncodeMetadata(m *Metadata) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encode metadata: %w", err)
	}
	sum := sha256.Sum256(body)
	out, err := json.MarshalIndent(envelope{Format: metadataFormat, Version: MetadataVersion, SHA256: hex.EncodeToString(sum[:]), Body: body}, "", " ")
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encode metadata: %w", err)
	}
	return append(out, '\n'), nil
}

// DecodeMetadata parses and verifies metadata. It refuses a checksum
// mismatch (ErrCorrupt) and any version but 1 to MetadataVersion
// (ErrUnknownVersion).
func DecodeMetadata(data []byte) (*Metadata, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if env.Format != metadataFormat {
		return nil, fmt.Errorf("%w: not a Tidemark checkpoint (format %q)", ErrCorrupt, env.Format)
	}
	if env.Version < 1 || env.Version > MetadataVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads versions 1 to %d", ErrUnknownVersion, env.Version, MetadataVersion)
	}
	// MarshalIndent re-indents the body; checksum its compact form.
	var compact bytes.Buffer
	if err := json.Compact(&compact, env.Body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	sum := sha256.Sum256(compact.Bytes())
	if got := hex.EncodeToString(sum[:]); got != env.SHA256 {
		return nil, fmt.Errorf("%w: checksum %s, want %s", ErrCorrupt, got, env.SHA256)
	}
	var m Metadata
	dec := json.NewDecoder(bytes.NewReader(compact.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return &m, nil
}
