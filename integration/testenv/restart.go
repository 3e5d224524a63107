package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Service outages for chaos tests. A restart or kill acts on the service
// every test of the binary shares (and, with services from `services.sh env`,
// every test binary using them): a test that calls these must not run in
// parallel with tests that need the service up.

// controlTimeout bounds one `services.sh restart|kill`: the stop grace
// (Kafka 30 s) plus a start (Kafka 90 s), with room to spare.
const controlTimeout = 4 * time.Minute

// readyTimeout bounds the wait, after the script, for the service to serve
// the test again.
const readyTimeout = time.Minute

// RestartKafka restarts the test Kafka broker: SIGTERM (SIGKILL after 30 s)
// if it runs, then a start on the same port with the same data directory and
// configuration, so topics, committed records, consumer-group offsets and
// transaction state survive. It also brings back a broker stopped by
// [KillKafka]. It returns once the broker serves and every partition of
// every topic has a leader; clients keep their addresses. The test fails if
// the broker does not come back in time.
func RestartKafka(t testing.TB) {
	t.Helper()
	vars := control(t, "kafka", "restart")
	brokers := splitBrokers(vars[EnvKafkaBrokers])
	if err := waitLeaders(brokers, readyTimeout); err != nil {
		t.Fatalf("testenv: Kafka restarted but is not serving: %v", err)
	}
}

// KillKafka SIGKILLs the test Kafka broker, a crash without a controlled
// shutdown, and leaves it down until [RestartKafka] (which then takes about
// ten seconds more: the restarted controller waits for the dead broker's
// session to expire before it lets the broker register again). If the test
// ends with the broker still down, its cleanup restarts it, for the tests
// that follow.
func KillKafka(t testing.TB) {
	t.Helper()
	control(t, "kafka", "kill")
	t.Cleanup(func() {
		if isDown(t, "kafka") {
			t.Logf("testenv: Kafka was left down: restarting it")
			RestartKafka(t)
		}
	})
}

// RestartS3 restarts the test S3 server: SIGTERM (SIGKILL after 10 s) if it
// runs, then a start on the same port serving the same directory, so the
// bucket and its objects survive. It also brings back a server stopped by
// [KillS3]. It returns once the bucket answers; the test fails if it does not
// in time.
func RestartS3(t testing.TB) {
	t.Helper()
	vars := control(t, "s3", "restart")
	if err := checkS3(vars); err != nil {
		t.Fatalf("testenv: S3 restarted but is not serving: %v", err)
	}
}

// KillS3 SIGKILLs the test S3 server and leaves it down until [RestartS3];
// if the test ends with it down, its cleanup restarts it.
func KillS3(t testing.TB) {
	t.Helper()
	control(t, "s3", "kill")
	t.Cleanup(func() {
		if isDown(t, "s3") {
			t.Logf("testenv: S3 was left down: restarting it")
			RestartS3(t)
		}
	})
}

func isDown(t testing.TB, name string) bool {
	h := getHarness(t)
	h.ctlMu.Lock()
	defer h.ctlMu.Unlock()
	return h.down[name]
}

// control runs `services.sh ACTION NAME` on the service the test uses, in the
// run dir that holds it, and returns the service's variables.
func control(t testing.TB, name, action string) map[string]string {
	t.Helper()
	h := getHarness(t)
	var vars map[string]string
	switch name {
	case "kafka":
		Kafka(t)
		vars = h.kafka.vars
	case "s3":
		S3(t)
		vars = h.s3.vars
	}
	h.ctlMu.Lock()
	defer h.ctlMu.Unlock()
	runDir, err := h.runDirOf(name, vars)
	if err != nil {
		t.Fatalf("testenv: cannot %s %s: %v", action, name, err)
	}
	begin := time.Now()
	out, err := h.scriptIn(runDir, nil, controlTimeout, action, name)
	if err != nil {
		t.Fatalf("testenv: integration/services.sh %s %s (run dir %s) failed: %v\n%s", action, name, runDir, err, out)
	}
	if h.down == nil {
		h.down = map[string]bool{}
	}
	h.down[name] = action == "kill"
	t.Logf("testenv: %s %s done in %v", action, name, time.Since(begin).Round(10*time.Millisecond))
	return vars
}

// runDirOf returns the run dir of the service name: the private one if this
// binary started it, else $TIDEMARK_RUN_DIR or integration/.run, checked to
// hold the service whose variables are vars.
func (h *harness) runDirOf(name string, vars map[string]string) (string, error) {
	h.mu.Lock()
	mine := slices.Contains(h.started, name)
	h.mu.Unlock()
	if mine {
		return h.runDir, nil
	}
	key := EnvKafkaBrokers
	if name == "s3" {
		key = EnvS3Endpoint
	}
	runDir := os.Getenv("TIDEMARK_RUN_DIR")
	if runDir == "" {
		if h.rootErr != nil {
			return "", h.rootErr
		}
		runDir = filepath.Join(h.repoRoot, "integration", ".run")
	}
	state := filepath.Join(runDir, name+".env")
	there, err := readEnvFile(state)
	if err != nil {
		return "", fmt.Errorf("%s=%s comes from the environment, but its run dir is unknown: %w (set TIDEMARK_RUN_DIR to the run dir of the services.sh that started it; `services.sh env` prints it)", key, vars[key], err)
	}
	if there[key] != vars[key] {
		return "", fmt.Errorf("%s=%s comes from the environment, but %s says %s=%s (set TIDEMARK_RUN_DIR to the run dir of the services.sh that started it; `services.sh env` prints it)", key, vars[key], state, key, there[key])
	}
	return runDir, nil
}

// waitLeaders waits until the brokers answer a metadata request in which
// every partition of every topic, internal ones included, has a leader.
func waitLeaders(brokers []string, timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		md, err := adm.Metadata(ctx)
		if err == nil {
			last = nil
			for _, td := range md.Topics {
				if td.Err != nil {
					last = fmt.Errorf("topic %s: %w", td.Topic, td.Err)
				} else if !allLeaders(td) {
					last = fmt.Errorf("topic %s: a partition has no leader", td.Topic)
				}
			}
			if last == nil {
				return nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready within %v: %w", timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
