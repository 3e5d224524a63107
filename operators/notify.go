package operators

import (
	"context"
	"sync"
)

// notifyTracker records the newest checkpoint completion each task has
// handled, so that a shutdown can wait for the final one.
type notifyTracker struct {
	mu      sync.Mutex
	done    map[TaskID]int64
	changed chan struct{} // closed and replaced on every report
}

func newNotifyTracker() *notifyTracker {
	return &notifyTracker{done: map[TaskID]int64{}, changed: make(chan struct{})}
}

func (n *notifyTracker) report(task TaskID, id int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.done[task] = max(n.done[task], id)
	close(n.changed)
	n.changed = make(chan struct{})
}

func (n *notifyTracker) wait(ctx context.Context, id int64, tasks []TaskID) error {
	for {
		n.mu.Lock()
		all := true
		for _, t := range tasks {
			all = all && n.done[t] >= id
		}
		ch := n.changed
		n.mu.Unlock()
		if all {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
