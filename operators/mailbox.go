package operators

import "sync"

// mailbox is an unbounded queue of control messages for a task, with a
// channel that signals when it is non-empty. Senders never block.
type mailbox struct {
	mu    sync.Mutex
	items []control
	ready chan struct{} // capacity 1
}

// control is a message from the coordinator to a task.
type control struct {
	trigger  int64 // source tasks: inject barrier
	final    bool  // with trigger: stop reading after this barrier
	complete int64 // checkpoint complete
	// positions: for a source task, its positions in the completed
	// checkpoint.
	positions []Position
}

func newMailbox() *mailbox { return &mailbox{ready: make(chan struct{}, 1)} }

func (m *mailbox) put(c control) {
	m.mu.Lock()
	m.items = append(m.items, c)
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// pending reports whether messages are queued.
func (m *mailbox) pending() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items) > 0
}

// take returns every queued message.
func (m *mailbox) take() []control {
	select {
	case <-m.ready:
	default:
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	items := m.items
	m.items = nil
	return items
}
