package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/embedded"
)

// killTestConfig gives the quickstart configuration a free port for its
// embedded broker, so that tests can run side by side.
func killTestConfig(cfg string) string {
	out := strings.Replace(cfg, "embedded_listen: 127.0.0.1:9192", "embedded_listen: 127.0.0.1:0", 1)
	if out == cfg {
		panic("configs/quickstart.yaml no longer sets embedded_listen: 127.0.0.1:9192")
	}
	return out
}

// readTopic reads every record of topic read_committed with `processor
// tail --from-beginning`, which starts the embedded broker on the data of
// the stopped processor, and returns their keys and values.
func readTopic(t *testing.T, ctx context.Context, bin, cfgPath, topic string) [][2]string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "tail", topic, "--config", cfgPath, "--from-beginning")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("tail %s: %v\n%s", topic, err, errOut.String())
	}
	var kvs [][2]string
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("tail printed %q, not KEY<TAB>VALUE", line)
		}
		kvs = append(kvs, [2]string{k, v})
	}
	return kvs
}

// checkBrokerGone checks that the embedded broker process of the stopped
// or killed processor ends on its own, after saving its data: its lock is
// released (the operating system releases it when the process is gone)
// and its lock file records a clean stop.
func checkBrokerGone(t *testing.T, stateDir string) {
	t.Helper()
	if err := waitBrokerGone(stateDir); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(stateDir, "embedded-kafka")
	if info, err := embedded.ReadInfo(dataDir); err != nil || info.State != embedded.StateStopped {
		t.Errorf("the embedded broker did not record a clean stop: %+v, %v", info, err)
	}
}

// waitBrokerGone waits up to 30s until no embedded broker holds the data
// of stateDir.
func waitBrokerGone(stateDir string) error {
	dataDir := filepath.Join(stateDir, "embedded-kafka")
	deadline := time.Now().Add(30 * time.Second)
	for {
		lock, err := embedded.TryLock(dataDir)
		if err == nil {
			return lock.Unlock()
		}
		if !errors.Is(err, embedded.ErrLocked) {
			return err
		}
		if time.Now().After(deadline) {
			info, _ := embedded.ReadInfo(dataDir)
			return fmt.Errorf("the embedded broker process %d still runs 30s after its processor ended", info.PID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
