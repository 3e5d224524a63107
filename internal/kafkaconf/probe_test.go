package kafkaconf_test

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/kafkaconf"
)

// probeBound is the probe timeout in these tests, and bounds how long a
// probe that classifies a failure may take.
const probeBound = 3 * time.Second

func kafkaCfg(mod func(*config.Kafka)) config.Kafka {
	k := config.Default().Kafka
	if mod != nil {
		mod(&k)
	}
	return k
}

func tlsOn(k *config.Kafka) { k.TLS.Enabled = true }

func saslPlain(user, pass string) func(*config.Kafka) {
	return func(k *config.Kafka) {
		k.SASL = config.SASL{Mechanism: config.SASLPlain, Username: user, Password: pass}
	}
}

// probe runs Probe against broker and returns its error and how long it
// took.
func probe(t *testing.T, k config.Kafka, broker string) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	err := kafkaconf.Probe(context.Background(), k, []string{broker}, probeBound, zap.NewNop())
	return time.Since(start), err
}

// wantMismatch checks err is a MismatchError for key whose message says
// each of says, found within the bound.
func wantMismatch(t *testing.T, name string, err error, took time.Duration, key string, says ...string) {
	t.Helper()
	var m *kafkaconf.MismatchError
	if !errors.As(err, &m) || !errors.Is(err, kafkaconf.ErrMismatch) {
		t.Errorf("%s: got %v, want a mismatch of %s", name, err, key)
		return
	}
	if m.Key != key {
		t.Errorf("%s: key %s, want %s: %v", name, m.Key, key, err)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: message does not say %q: %v", name, s, err)
		}
	}
	if took > probeBound+time.Second {
		t.Errorf("%s: took %s", name, took)
	}
}

func newCluster(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// TestProbePlaintextBroker: an in-process broker without TLS or SASL (like
// the embedded one).
func TestProbePlaintextBroker(t *testing.T) {
	addr := newCluster(t)
	if _, err := probe(t, kafkaCfg(nil), addr); err != nil {
		t.Errorf("matching settings: %v", err)
	}
	took, err := probe(t, kafkaCfg(tlsOn), addr)
	wantMismatch(t, "TLS against plaintext", err, took, "kafka.tls.enabled", "plaintext", "kafka.tls.enabled is true")
	took, err = probe(t, kafkaCfg(saslPlain("u", "p")), addr)
	wantMismatch(t, "SASL against no SASL", err, took, "kafka.sasl.mechanism", "does not use SASL", "remove kafka.sasl")
}

func TestProbeSASLBroker(t *testing.T) {
	addr := newCluster(t, kfake.EnableSASL(), kfake.Superuser(config.SASLPlain, "admin", "secret"))
	if _, err := probe(t, kafkaCfg(saslPlain("admin", "secret")), addr); err != nil {
		t.Errorf("matching settings: %v", err)
	}
	took, err := probe(t, kafkaCfg(nil), addr)
	wantMismatch(t, "no SASL against SASL", err, took, "kafka.sasl.mechanism", "requires SASL", "kafka.sasl is not configured")
	took, err = probe(t, kafkaCfg(saslPlain("admin", "wrong")), addr)
	wantMismatch(t, "wrong password", err, took, "kafka.sasl.mechanism", `refused user "admin"`)
}

// TestProbeTLSListener: a TLS server that is no Kafka broker stands in for
// a broker's TLS listener: the handshake is all that matters.
func TestProbeTLSListener(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	took, err := probe(t, kafkaCfg(nil), addr)
	wantMismatch(t, "plaintext against TLS", err, took, "kafka.tls.enabled", "expects TLS", "kafka.tls.enabled is false")
	took, err = probe(t, kafkaCfg(tlsOn), addr)
	wantMismatch(t, "untrusted certificate", err, took, "kafka.tls.ca_file", "not trusted")
	took, err = probe(t, kafkaCfg(func(k *config.Kafka) { k.TLS = config.TLS{Enabled: true, CAFile: ca, ServerName: "wrong.test"} }), addr)
	wantMismatch(t, "wrong name", err, took, "kafka.tls.server_name", "kafka.tls.server_name")
}

// TestProbeInconclusive: no broker to reach, or one that never answers a
// Kafka request, is no mismatch: Probe warns and lets the start go on.
func TestProbeInconclusive(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	for name, addr := range map[string]string{"nothing listening": closed, "silent listener": silent.Addr().String()} {
		core, logs := observer.New(zap.WarnLevel)
		start := time.Now()
		err := kafkaconf.Probe(context.Background(), kafkaCfg(nil), []string{addr}, probeBound, zap.New(core))
		if err != nil {
			t.Errorf("%s: %v, want nil", name, err)
		}
		if took := time.Since(start); took > probeBound+time.Second {
			t.Errorf("%s: took %s", name, took)
		}
		if n := logs.FilterMessageSnippet("could not check the Kafka connection settings").Len(); n != 1 {
			t.Errorf("%s: %d warnings, want 1", name, n)
		}
	}
}

// TestProbeStoppedIsNoMismatch: a probe cut short by its caller proves
// nothing.
func TestProbeStoppedIsNoMismatch(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := kafkaconf.Probe(ctx, kafkaCfg(tlsOn), []string{silent.Addr().String()}, probeBound, zap.NewNop()); err != nil {
		t.Errorf("stopped probe: %v, want nil", err)
	}
}
