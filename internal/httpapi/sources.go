package httpapi

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/tidemark/tidemark/internal/job"
)

// Sources is what GET /api/v1/sources needs of the job.
type Sources interface {
	// Progress returns every source partition's position at the newest
	// completed checkpoint.
	Progress() []job.PartitionProgress
}

// EndOffsets returns the end offset (high watermark) of every partition
// of topics, by topic and partition.
type EndOffsets func(ctx context.Context, topics []string) (map[string]map[int32]int64, error)

// SetSources connects GET /api/v1/sources to the job.
func (s *Server) SetSources(src Sources) { s.sources.Store(&src) }

// SetEndOffsets gives GET /api/v1/sources the partitions' end offsets, to
// compute lag; without it lag is not reported.
func (s *Server) SetEndOffsets(f EndOffsets) { s.ends.Store(&f) }

// SourcesResponse is the body of GET /api/v1/sources.
type SourcesResponse struct {
	// Checkpoint is the completed checkpoint the positions are of (0:
	// none yet), completed at At.
	Checkpoint int64     `json:"checkpoint"`
	At         time.Time `json:"at,omitzero"`
	Sources    []Source  `json:"sources"`
	// EndOffsetsError says why end offsets, and so lag, are missing.
	EndOffsetsError string `json:"end_offsets_error,omitempty"`
}

// Source is one source's progress.
type Source struct {
	// Name is the source's name ("" for a single-chain source).
	Name string `json:"name"`
	// Lag sums its partitions' lag; Rate their rates (nil when one is
	// unknown).
	Lag        *int64      `json:"lag"`
	Rate       *float64    `json:"rate"`
	Partitions []Partition `json:"partitions"`
}

// Partition is one source partition's progress.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Offset is the next offset to read at the checkpoint.
	Offset int64 `json:"offset"`
	// EndOffset is the partition's end offset now; Lag is EndOffset -
	// Offset: what is left to read beyond the checkpoint.
	EndOffset *int64 `json:"end_offset"`
	Lag       *int64 `json:"lag"`
	// Rate is offsets per second between the two newest completed
	// checkpoints.
	Rate *float64 `json:"rate"`
}

// endOffsetsTimeout bounds the broker request of GET /api/v1/sources.
const endOffsetsTimeout = 5 * time.Second

func (s *Server) serveSources(w http.ResponseWriter, r *http.Request) {
	p := s.sources.Load()
	if p == nil {
		writeJSON(w, http.StatusServiceUnavailable, ErrorResponse{Error: "the job has not started yet"})
		return
	}
	progress := (*p).Progress()
	resp := SourcesResponse{Sources: []Source{}}
	var topics []string
	for _, pp := range progress {
		if !slices.Contains(topics, pp.Topic) {
			topics = append(topics, pp.Topic)
		}
		resp.Checkpoint, resp.At = pp.Checkpoint, pp.At
	}
	var ends map[string]map[int32]int64
	if f := s.ends.Load(); f != nil && len(topics) > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), endOffsetsTimeout)
		var err error
		ends, err = (*f)(ctx, topics)
		cancel()
		if err != nil {
			resp.EndOffsetsError = err.Error()
		}
	} else if len(topics) > 0 {
		resp.EndOffsetsError = "this processor does not look up end offsets"
	}
	for _, pp := range progress {
		if n := len(resp.Sources); n == 0 || resp.Sources[n-1].Name != pp.Source {
			var lag int64
			var rate float64
			resp.Sources = append(resp.Sources, Source{Name: pp.Source, Lag: &lag, Rate: &rate})
		}
		src := &resp.Sources[len(resp.Sources)-1]
		part := Partition{Topic: pp.Topic, Partition: pp.Partition, Offset: pp.Offset, Rate: pp.Rate}
		if end, ok := ends[pp.Topic][pp.Partition]; ok {
			lag := max(0, end-pp.Offset)
			part.EndOffset, part.Lag = &end, &lag
		}
		if part.Lag == nil {
			src.Lag = nil
		} else if src.Lag != nil {
			*src.Lag += *part.Lag
		}
		if part.Rate == nil {
			src.Rate = nil
		} else if src.Rate != nil {
			*src.Rate += *part.Rate
		}
		src.Partitions = append(src.Partitions, part)
	}
	writeJSON(w, http.StatusOK, resp)
}
