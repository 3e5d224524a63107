package kafkaconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
)

// Options returns the client options every Kafka client of the process
// shares. brokers overrides the configured seed brokers when non-empty (the
// embedded broker's address).
func Options(k config.Kafka, brokers []string, log *zap.Logger) ([]kgo.Opt, error) {
	if len(brokers) == 0 {
		brokers = k.Brokers
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(k.ClientID),
		kgo.WithLogger(zapLogger{log.Named("kgo")}),
		// Only consumers fetch: kafka.fetch_max_bytes bounds the fetched
		// buffers a source holds.
		kgo.FetchMaxBytes(k.FetchBytes()),
		kgo.FetchMaxPartitionBytes(k.FetchBytes()),
	}
	if k.TLS.Enabled {
		tc, err := tlsConfig(k.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	mech, err := saslMechanism(k.SASL)
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// saslMechanism is the configured SASL mechanism, nil for none.
func saslMechanism(s config.SASL) (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "":
		return nil, nil
	case config.SASLPlain:
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case config.SASLScramSHA256:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case config.SASLScramSHA512:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism: unsupported %q", s.Mechanism)
}

func tlsConfig(c config.TLS) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // documented as never for production
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file: no PEM certificates in %s", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// zapLogger adapts zap to kgo.Logger; kgo's info level is chatty, so it is
// logged at debug.
type zapLogger struct{ l *zap.Logger }

func (z zapLogger) Level() kgo.LogLevel {
	switch {
	case z.l.Core().Enabled(zap.DebugLevel):
		return kgo.LogLevelDebug
	case z.l.Core().Enabled(zap.WarnLevel):
		return kgo.LogLevelWarn
	}
	return kgo.LogLevelError
}

func (z zapLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	fields := make([]zap.Field, 0, len(keyvals)/2)
	for i := 0; i+1 < len(keyvals); i += 2 {
		fields = append(fields, zap.Any(fmt.Sprint(keyvals[i]), keyvals[i+1]))
	}
	switch level {
	case kgo.LogLevelError:
		z.l.Error(msg, fields...)
	case kgo.LogLevelWarn:
		z.l.Warn(msg, fields...)
	default:
		z.l.Debug(msg, fields...)
	}
}
