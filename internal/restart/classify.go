package restart

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"

	"github.com/aws/smithy-go"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/sink"
)

// Class is what a failure calls for.
type Class int

const (
	// Transient failures are retried by the restart strategy: network
	// errors, S3 5xx and timeouts, Kafka's retriable errors, a broker or
	// S3 unreachable at start-up, checkpoints failing, and whatever is not
	// known to be permanent.
	Transient Class = iota
	// Permanent failures stop the processor: no restart can cure them.
	Permanent
)

func (c Class) String() string {
	if c == Permanent {
		return "permanent"
	}
	return "transient"
}

// permanent marks an error that no restart can cure.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// MarkPermanent marks err as one that restarting the job cannot cure.
func MarkPermanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// permanentKafka are Kafka errors no retry cures: refused credentials and
// missing rights.
var permanentKafka = []error{
	kerr.SaslAuthenticationFailed, kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState,
	kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed,
	kerr.TransactionalIDAuthorizationFailed,
}

// permanentS3 are S3 error codes no retry cures: refused credentials, a
// missing bucket.
var permanentS3 = map[string]bool{
	"AccessDenied": true, "InvalidAccessKeyId": true, "SignatureDoesNotMatch": true,
	"NoSuchBucket": true, "InvalidBucketName": true, "AllAccessDisabled": true,
}

// Classify tells whether err, the failure of a job attempt, is permanent:
// an error marked with MarkPermanent; lost transactions (sink.LostError);
// corrupt or incompatible checkpoint metadata or state (checkpoint.ErrCorrupt,
// ErrUnknownVersion, ErrTopologyMismatch, ErrStateCorrupt); a zombie (checkpoint.ErrZombie);
// a missing topic, a record Kafka refuses, a setting the broker refuses
// (sink.MissingTopicError, RejectedError, ErrConfig); refused credentials
// or rights (Kafka SASL and authorization errors, S3 AccessDenied and the
// like, TLS certificate errors, a local permission error). Anything else is
// transient.
func Classify(err error) Class {
	var p permanent
	var lost *sink.LostError
	var missing *sink.MissingTopicError
	var rejected *sink.RejectedError
	var api smithy.APIError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var badCert x509.CertificateInvalidError
	var notTLS tls.RecordHeaderError
	switch {
	case err == nil:
		return Transient
	case errors.As(err, &p), errors.As(err, &lost), errors.As(err, &missing), errors.As(err, &rejected),
		errors.Is(err, sink.ErrConfig),
		errors.Is(err, checkpoint.ErrZombie), errors.Is(err, checkpoint.ErrCorrupt),
		errors.Is(err, checkpoint.ErrUnknownVersion), errors.Is(err, checkpoint.ErrTopologyMismatch),
		errors.Is(err, checkpoint.ErrStateCorrupt),
		errors.As(err, &unknownCA), errors.As(err, &badHost), errors.As(err, &badCert), errors.As(err, &notTLS),
		errors.Is(err, os.ErrPermission):
		return Permanent
	case errors.As(err, &api) && permanentS3[api.ErrorCode()]:
		return Permanent
	}
	for _, k := range permanentKafka {
		if errors.Is(err, k) {
			return Permanent
		}
	}
	return Transient
}
