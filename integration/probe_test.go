package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/integration/testenv"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/kafkaconf"
)

// mismatchBound is how long a start with TLS or SASL settings that do not
// match the broker may take to fail.
const mismatchBound = 15 * time.Second

// TestSecurityMismatchFailsFast: the test broker is plaintext without SASL.
// A processor configured with TLS, or with SASL, exits 1 within
// mismatchBound with a message naming the setting; before, TLS retried for
// minutes and SASL took about a minute to end in a bare EOF.
func TestSecurityMismatchFailsFast(t *testing.T) {
	k := testenv.Kafka(t)
	in, out := k.CreateTopic(t, 1, nil), k.CreateTopic(t, 1, nil)
	for _, tc := range []struct {
		name, kafka, key, says string
	}{
		{"tls", "  tls:\n    enabled: true\n", "kafka.tls.enabled", "speaks plaintext"},
		{"sasl", "  sasl:\n    mechanism: SCRAM-SHA-512\n    username: tidemark\n    password: secret\n", "kafka.sasl.mechanism", "does not use SASL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := fmt.Sprintf(`job:
  name: %s
kafka:
  brokers: [%s]
%ssource:
  topics: [%s]
sink:
  topic: %s
checkpoint:
  storage: file://%s
state:
  dir: %s
http:
  listen: ""
log:
  format: json
`, testenv.UniqueName(t, "probe"), strings.Join(k.Brokers, ", "), tc.kafka, in, out, filepath.Join(dir, "checkpoints"), filepath.Join(dir, "state"))
			path := filepath.Join(dir, "tidemark.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*mismatchBound)
			defer cancel()
			bin := processorBinary(t)
			start := time.Now()
			output, err := exec.CommandContext(ctx, bin, "run", "--config", path).CombinedOutput()
			took := time.Since(start)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 || ctx.Err() != nil {
				t.Fatalf("processor: %v after %s, want exit code 1 within %s\n%s", err, took, mismatchBound, output)
			}
			if took > mismatchBound {
				t.Errorf("processor took %s to fail, want at most %s", took, mismatchBound)
			}
			for _, s := range []string{"processor: " + tc.key, tc.says, k.Brokers[0]} {
				if !strings.Contains(string(output), s) {
					t.Errorf("output does not say %q:\n%s", s, output)
				}
			}
			t.Logf("failed after %s", took.Round(time.Millisecond))

			// The probe itself, and the same settings without the
			// mismatch.
			parsed, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := kafkaconf.Probe(ctx, parsed.Kafka, nil, kafkaconf.ProbeTimeout, zap.NewNop()); !errors.Is(err, kafkaconf.ErrMismatch) {
				t.Errorf("Probe: %v, want a mismatch", err)
			}
			parsed.Kafka.TLS, parsed.Kafka.SASL = config.TLS{}, config.SASL{}
			if err := kafkaconf.Probe(ctx, parsed.Kafka, nil, kafkaconf.ProbeTimeout, zap.NewNop()); err != nil {
				t.Errorf("Probe with matching settings: %v", err)
			}
		})
	}
}
