package builtin

import (
	"context"
	"math"

	"github.com/tidemark/tidemark/operators"
)

// SliceSource is a source of fixed records, one slice per partition, read
// round the partitions in batches. Its positions are indexes into the
// slices, so it restores exactly. Once every record is read, Poll waits
// until its context is done. It is for examples, tests and benchmarks.
type SliceSource struct {
	// Topic names the records' origin in positions.
	Topic string
	// Partitions are the records; the source owns them.
	Partitions [][]operators.Record
	// BatchSize is the most records one Poll returns. Default 256.
	BatchSize int
	// Partition indexes Partitions with the partition numbers to report;
	// default 0, 1, 2...
	PartitionIDs []int32

	next []int64
	turn int
}

// Open implements operators.Source.
func (s *SliceSource) Open(_ context.Context, restored []operators.Position) error {
	if s.BatchSize == 0 {
		s.BatchSize = 256
	}
	if s.PartitionIDs == nil {
		for i := range s.Partitions {
			s.PartitionIDs = append(s.PartitionIDs, int32(i))
		}
	}
	s.next = make([]int64, len(s.Partitions))
	for _, p := range restored {
		for i, id := range s.PartitionIDs {
			if id == p.Partition && p.Topic == s.Topic {
				s.next[i] = p.Offset
			}
		}
	}
	return nil
}

// Poll implements operators.Source.
func (s *SliceSource) Poll(ctx context.Context) ([]operators.Record, int64, error) {
	for range len(s.Partitions) {
		i := s.turn
		s.turn = (s.turn + 1) % len(s.Partitions)
		part := s.Partitions[i]
		if s.next[i] >= int64(len(part)) {
			continue
		}
		end := min(s.next[i]+int64(s.BatchSize), int64(len(part)))
		recs := part[s.next[i]:end:end]
		s.next[i] = end
		return recs, math.MinInt64, nil
	}
	<-ctx.Done()
	return nil, math.MinInt64, nil
}

// Positions implements operators.Source.
func (s *SliceSource) Positions() []operators.Position {
	ps := make([]operators.Position, len(s.Partitions))
	for i := range s.Partitions {
		ps[i] = operators.Position{Topic: s.Topic, Partition: s.PartitionIDs[i], Offset: s.next[i]}
	}
	return ps
}

// NotifyCheckpointComplete implements operators.Source.
func (s *SliceSource) NotifyCheckpointComplete(context.Context, int64, []operators.Position) error {
	return nil
}

// Close implements operators.Source.
func (s *SliceSource) Close() error { return nil }
