package restart_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/internal/restart"
	"github.com/tidemark/tidemark/sink"
)

func TestClassify(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("job: attempt: %w", err) }
	for _, tc := range []struct {
		name string
		err  error
		want restart.Class
	}{
		// Transient: retried.
		{"broker unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, restart.Transient},
		{"timeout", context.DeadlineExceeded, restart.Transient},
		{"kafka retriable", kerr.NotLeaderForPartition, restart.Transient},
		{"kafka coordinator loading", wrap(kerr.CoordinatorLoadInProgress), restart.Transient},
		{"checkpoints failing", wrap(checkpoint.ErrTooManyFailures), restart.Transient},
		{"s3 5xx", &smithy.GenericAPIError{Code: "InternalError"}, restart.Transient},
		{"s3 slow down", &smithy.GenericAPIError{Code: "SlowDown"}, restart.Transient},
		{"object missing", wrap(storage.ErrNotFound), restart.Transient},
		{"disk full", &fs.PathError{Op: "write", Path: "/state", Err: syscall.ENOSPC}, restart.Transient},
		{"unknown", errors.New("something odd"), restart.Transient},
		// Permanent: the processor stops.
		{"marked", wrap(restart.MarkPermanent(errors.New("x"))), restart.Permanent},
		{"lost transactions", wrap(&sink.LostError{Checkpoint: 3}), restart.Permanent},
		{"corrupt metadata", wrap(checkpoint.ErrCorrupt), restart.Permanent},
		{"unknown metadata version", wrap(checkpoint.ErrUnknownVersion), restart.Permanent},
		{"topology mismatch", wrap(checkpoint.ErrTopologyMismatch), restart.Permanent},
		{"zombie", wrap(checkpoint.ErrZombie), restart.Permanent},
		{"state file corrupted", wrap(checkpoint.ErrStateCorrupt), restart.Permanent},
		{"missing topic", wrap(&sink.MissingTopicError{Topics: []string{"out"}, Keys: []string{"sink.topic"}}), restart.Permanent},
		{"record refused", wrap(&sink.RejectedError{Topic: "out"}), restart.Permanent},
		{"broker refuses a setting", wrap(fmt.Errorf("%w: transaction timeout", sink.ErrConfig)), restart.Permanent},
		{"sasl", wrap(kerr.SaslAuthenticationFailed), restart.Permanent},
		{"topic acl", kerr.TopicAuthorizationFailed, restart.Permanent},
		{"transactional id acl", kerr.TransactionalIDAuthorizationFailed, restart.Permanent},
		{"s3 access denied", &smithy.GenericAPIError{Code: "AccessDenied"}, restart.Permanent},
		{"s3 bad key", wrap(&smithy.GenericAPIError{Code: "InvalidAccessKeyId"}), restart.Permanent},
		{"s3 no bucket", &smithy.GenericAPIError{Code: "NoSuchBucket"}, restart.Permanent},
		{"tls unknown ca", wrap(x509.UnknownAuthorityError{}), restart.Permanent},
		{"permission", &fs.PathError{Op: "open", Path: "/state", Err: os.ErrPermission}, restart.Permanent},
	} {
		if got := restart.Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify(%v) = %s, want %s", tc.name, tc.err, got, tc.want)
		}
	}
}
