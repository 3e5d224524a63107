package embedded_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/permtest"
)

// The broker process saves its data private to its user: the data
// directory and everything in it 0700/0600, and the lock file beside it
// 0600.
func TestBrokerDataIsPrivate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := filepath.Join(t.TempDir(), "state")
	dir := filepath.Join(root, "embedded-kafka")
	p, err := embedded.Spawn(ctx, childCommand(t), embedded.Options{DataDir: dir, Listen: "127.0.0.1:0", Log: zaptest.NewLogger(t)}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := embedded.EnsureTopicsAt(ctx, p.Addrs(), 2, "t"); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	permtest.Private(t, root)
}
