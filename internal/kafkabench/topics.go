package kafkabench

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// CreateTopics creates topics of partitions partitions (replication 1) and
// waits until every partition has a leader, so that no client starts with
// a metadata miss (kgo retries one only after a backoff, which would count
// against the first records). It gives up after 30 s.
func CreateTopics(ctx context.Context, adm *kadm.Client, partitions int, names ...string) error {
	resp, err := adm.CreateTopics(ctx, int32(partitions), 1, nil, names...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("create topics %v: %w", names, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		td, err := adm.ListTopics(ctx, names...)
		ok := err == nil && len(td) == len(names)
		if ok {
			for _, t := range td {
				ok = ok && t.Err == nil && len(t.Partitions) == partitions
				for _, p := range t.Partitions {
					ok = ok && p.Err == nil && p.Leader >= 0
				}
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %v: no leader for every partition: %w", names, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
