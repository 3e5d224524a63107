package cli

import (
	"context"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/memlimit"
)

// applyMemoryLimit sets the Go runtime's memory limit at start-up
// (package memlimit) and logs it: GOMEMLIMIT, else process.memory_limit,
// else 90 % of the container's limit, else memlimit.DefaultFloor, which a
// goroutine then raises to twice the live heap when that is more
// (memlimit.Follow) until the returned function is called.
func applyMemoryLimit(cfg *config.Config, log *zap.Logger) func() {
	limit, auto := cfg.ProcessMemoryLimit()
	r, err := memlimit.Apply(limit, auto)
	if err != nil {
		log.Warn("cannot read the container's memory limit: running without a memory limit; set process.memory_limit or GOMEMLIMIT to set one",
			zap.Error(err))
		return func() {}
	}
	log.Info("memory", zap.String("limit", r.String()), zap.String("source", string(r.Source)),
		zap.Int64("limit_bytes", r.Limit), zap.String("state_memory", cfg.State.Memory))
	if r.Source != memlimit.Default {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		memlimit.Follow(ctx, r.Limit)
	}()
	return func() { cancel(); <-done }
}
