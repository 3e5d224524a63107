package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
)

// ErrNoData: the embedded broker's data directory does not exist; nothing
// ever ran on it.
var ErrNoData = errors.New("embedded: no broker data")

// Attach finds the broker serving dataDir for a client that only reads:
// the running one if there is one (a processor's: its lock file says
// where it listens), else a new one on the data started with command (see
// Spawn) on a free loopback port, returned as own for the caller to Close.
// It never starts a second broker on the data of a running one: if a
// processor starts meanwhile, Attach connects to the processor's broker.
func Attach(ctx context.Context, command []string, dataDir string, log *zap.Logger) (addrs []string, own Running, err error) {
	if _, err := os.Stat(dataDir); errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w in %s", ErrNoData, dataDir)
	}
	deadline := time.Now().Add(LockWait)
	for {
		lock, err := TryLock(dataDir)
		switch {
		case err == nil:
			if err := lock.Unlock(); err != nil {
				return nil, nil, err
			}
			p, err := Spawn(ctx, command, Options{DataDir: dataDir, Listen: "127.0.0.1:0", Log: log}, false)
			if !errors.Is(err, ErrLocked) { // else a processor took it first
				if err != nil {
					return nil, nil, err
				}
				return p.Addrs(), p, nil
			}
		case errors.Is(err, ErrLocked):
			if info, err := ReadInfo(dataDir); err == nil && info.State == StateRunning && info.Address != "" {
				return []string{info.Address}, nil, nil
			}
			// Starting or stopping: wait for it to settle.
		default:
			return nil, nil, err
		}
		if time.Now().After(deadline) {
			info, _ := ReadInfo(dataDir)
			return nil, nil, fmt.Errorf("embedded: the broker on %s (pid %d) neither serves nor stops after %s", dataDir, info.PID, LockWait)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
