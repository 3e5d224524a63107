package kafkaconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
)

// ErrMismatch: the client's TLS or SASL settings do not match the broker's
// listener. Retrying does not help; the configuration must change.
var ErrMismatch = errors.New("kafka: the client's TLS or SASL settings do not match the broker")

// MismatchError says which setting most likely does not match the broker's
// listener, and what to change. It matches ErrMismatch.
type MismatchError struct {
	// Broker is the seed broker probed, host:port.
	Broker string
	// Key is the configuration key to look at, e.g. "kafka.tls.enabled".
	Key string
	// Msg says what happened, what it likely means and what to change.
	Msg string
	// Err is what the client saw.
	Err error
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: broker %s: %s (the client saw: %v)", e.Key, e.Broker, e.Msg, e.Err)
}

// Is makes a MismatchError match ErrMismatch.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// Unwrap returns what the client saw.
func (e *MismatchError) Unwrap() error { return e.Err }

// ProbeTimeout is how long Probe waits at most, for all seed brokers
// together.
const ProbeTimeout = 10 * time.Second

// Probe connects to the seed brokers one after the other with the
// configured TLS and SASL settings and asks the first it reaches for
// metadata, once, without retries, within timeout. It returns a
// *MismatchError when the way the connection failed points at a setting
// that does not match the broker's listener: TLS against a plaintext port
// or the reverse, SASL against a listener without it or the reverse, a
// mechanism the broker does not offer, refused credentials, an untrusted
// certificate. Anything else (no broker reachable, a timeout that proves
// nothing) is logged as a warning and Probe returns nil: the job's own
// clients retry those.
func Probe(ctx context.Context, k config.Kafka, brokers []string, timeout time.Duration, log *zap.Logger) error {
	if len(brokers) == 0 {
		brokers = k.Brokers
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var errs []error
	for _, b := range brokers {
		err := probeOne(ctx, k, b)
		if parent.Err() != nil {
			return nil // stopped: a cut-short probe proves nothing
		}
		if err == nil {
			log.Debug("kafka connection settings checked", zap.String("broker", b))
			return nil
		}
		if errors.Is(err, ErrMismatch) {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
		if ctx.Err() != nil {
			break
		}
	}
	log.Warn("could not check the Kafka connection settings against a broker; starting anyway",
		zap.Strings("brokers", brokers), zap.Error(errors.Join(errs...)))
	return nil
}

// Connection stages a probe goes through.
const (
	stageDial      = iota // dialing TCP
	stageTLS              // TLS handshake started
	stageConnected        // TCP (and TLS) up: Kafka requests from here
)

// trace records how far a probe's connection got and which responses
// arrived, from the dialer and kgo's hooks.
type trace struct {
	mu     sync.Mutex
	stage  int
	tlsErr error
	read   map[int16]bool // response keys read without error
}

func (t *trace) setStage(s int, tlsErr error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stage, t.tlsErr = s, tlsErr
}

// OnBrokerRead implements kgo.HookBrokerRead.
func (t *trace) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.read[key] = true
}

func (t *trace) snapshot() (stage int, tlsErr error, apiVersions bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stage, t.tlsErr, t.read[int16(kmsg.ApiVersions)]
}

// probeOne asks broker for metadata once and classifies a failure.
func probeOne(ctx context.Context, k config.Kafka, broker string) error {
	tr := &trace{read: map[int16]bool{}}
	var tc *tls.Config
	if k.TLS.Enabled {
		var err error
		if tc, err = tlsConfig(k.TLS); err != nil {
			return err
		}
	}
	mech, err := saslMechanism(k.SASL)
	if err != nil {
		return err
	}
	dial := func(ctx context.Context, network, host string) (net.Conn, error) {
		tr.setStage(stageDial, nil)
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, host)
		if err != nil || tc == nil {
			if err == nil {
				tr.setStage(stageConnected, nil)
			}
			return conn, err
		}
		tr.setStage(stageTLS, nil)
		c := tc.Clone()
		if c.ServerName == "" {
			c.ServerName, _, _ = net.SplitHostPort(host)
		}
		tconn := tls.Client(conn, c)
		if err := tconn.HandshakeContext(ctx); err != nil {
			conn.Close()
			tr.setStage(stageTLS, err)
			return nil, err
		}
		tr.setStage(stageConnected, nil)
		return tconn, nil
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(broker), kgo.ClientID(k.ClientID), kgo.Dialer(dial),
		kgo.RequestRetries(0), kgo.WithHooks(tr),
	}
	if deadline, ok := ctx.Deadline(); ok {
		opts = append(opts, kgo.DialTimeout(time.Until(deadline)))
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none: only the brokers
	_, err = req.RequestWith(ctx, cl)
	if err == nil {
		return nil
	}
	stage, tlsErr, apiVersions := tr.snapshot()
	if m := classify(k, stage, tlsErr, apiVersions, err); m != nil {
		m.Broker = broker
		return m
	}
	return err
}

// classify names the likely mismatch behind err, or returns nil if err
// does not point at one.
func classify(k config.Kafka, stage int, tlsErr error, apiVersions bool, err error) *MismatchError {
	switch stage {
	case stageDial:
		return nil // unreachable: not a settings problem
	case stageTLS:
		return classifyTLS(tlsErr, err)
	}
	saslKey := "kafka.sasl.mechanism"
	var firstRead *kgo.ErrFirstReadEOF
	closed := errors.As(err, &firstRead) || isClosed(err)
	switch {
	case errors.Is(err, kerr.IllegalSaslState):
		return &MismatchError{Key: saslKey, Err: err, Msg: fmt.Sprintf("SASL (%s) is configured, but the broker's listener does not use SASL: "+
			"remove kafka.sasl, or point kafka.brokers at the broker's SASL listener", k.SASL.Mechanism)}
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return &MismatchError{Key: saslKey, Err: err, Msg: fmt.Sprintf("the broker does not offer SASL mechanism %s: "+
			"set kafka.sasl.mechanism to one its listener enables (sasl.enabled.mechanisms)", k.SASL.Mechanism)}
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return &MismatchError{Key: "kafka.sasl.username", Err: err, Msg: fmt.Sprintf("the broker refused the SASL %s credentials of user %q: "+
			"check kafka.sasl.username and kafka.sasl.password", k.SASL.Mechanism, k.SASL.Username)}
	case !closed:
		return nil
	case !apiVersions && !k.TLS.Enabled:
		return &MismatchError{Key: "kafka.tls.enabled", Err: err, Msg: "the broker closed the connection at the first request: " +
			"its listener most likely expects TLS, and kafka.tls.enabled is false; set it to true (with kafka.tls.ca_file if its certificate is not from a public CA), " +
			"or point kafka.brokers at the broker's plaintext listener"}
	case apiVersions && k.SASL.Mechanism != "":
		return &MismatchError{Key: saslKey, Err: err, Msg: fmt.Sprintf("the broker closed the connection during SASL %s authentication: "+
			"its listener most likely does not use SASL (the embedded broker never does), does not offer %s, or refused user %q; "+
			"remove kafka.sasl for a listener without SASL, or check the mechanism and credentials", k.SASL.Mechanism, k.SASL.Mechanism, k.SASL.Username)}
	case apiVersions:
		return &MismatchError{Key: saslKey, Err: err, Msg: "the broker answered the first request and then closed the connection: " +
			"its listener most likely requires SASL authentication, and kafka.sasl is not configured; set kafka.sasl.mechanism, username and password"}
	}
	return nil
}

func classifyTLS(tlsErr, err error) *MismatchError {
	if tlsErr == nil {
		// The handshake was still running when the probe gave up: the
		// broker did not answer it.
		return &MismatchError{Key: "kafka.tls.enabled", Err: err, Msg: "the broker did not answer the TLS handshake: " +
			"its listener most likely speaks plaintext, and kafka.tls.enabled is true; set it to false, or point kafka.brokers at the broker's TLS listener"}
	}
	var rec tls.RecordHeaderError
	var unknownCA x509.UnknownAuthorityError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(tlsErr, &rec):
		return &MismatchError{Key: "kafka.tls.enabled", Err: tlsErr, Msg: "the broker answered the TLS handshake with something that is not TLS: " +
			"its listener speaks plaintext, and kafka.tls.enabled is true; set it to false, or point kafka.brokers at the broker's TLS listener"}
	case isClosed(tlsErr) || errors.Is(tlsErr, context.DeadlineExceeded) || errors.Is(tlsErr, context.Canceled):
		return &MismatchError{Key: "kafka.tls.enabled", Err: tlsErr, Msg: "the broker closed the connection during the TLS handshake, or never answered it: " +
			"its listener most likely speaks plaintext, and kafka.tls.enabled is true; set it to false, or point kafka.brokers at the broker's TLS listener"}
	case errors.As(tlsErr, &host):
		return &MismatchError{Key: "kafka.tls.server_name", Err: tlsErr, Msg: "the broker's certificate is not for the name the client checks: " +
			"set kafka.tls.server_name to a name the certificate holds"}
	case errors.As(tlsErr, &unknownCA) || errors.As(tlsErr, &verify):
		return &MismatchError{Key: "kafka.tls.ca_file", Err: tlsErr, Msg: "the broker's certificate is not trusted: " +
			"set kafka.tls.ca_file to the PEM file of the CA that signed it"}
	case strings.Contains(tlsErr.Error(), "remote error: tls:"):
		return &MismatchError{Key: "kafka.tls.cert_file", Err: tlsErr, Msg: "the broker refused the TLS handshake: " +
			"if it requires client certificates (ssl.client.auth=required), set kafka.tls.cert_file and kafka.tls.key_file; check the TLS versions and ciphers it allows"}
	}
	return &MismatchError{Key: "kafka.tls", Err: tlsErr, Msg: "the TLS handshake with the broker failed: check the kafka.tls settings against the broker's listener"}
}

// isClosed reports whether err says the peer closed the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
