package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3 error codes the store branches on.
const (
	codeNoSuchKey          = "NoSuchKey"
	codeNotFound           = "NotFound" // HEAD has no body: the SDK names the status
	codeNoSuchUpload       = "NoSuchUpload"
	codePreconditionFailed = "PreconditionFailed"
	codeConditionConflict  = "ConditionalRequestConflict"
	codeObjectIsDirectory  = "ExistingObjectIsDirectory" // versitygw POSIX backend
)

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// classify tells whether err is the S3 error of one of codes or, if the
// response carried no error code, of status.
func classify(err error, status int, codes ...string) bool {
	if code := errorCode(err); code != "" {
		return slices.Contains(codes, code)
	}
	return httpStatus(err) == status
}

// isNotFound: the object does not exist (a missing bucket is not that).
func isNotFound(err error) bool {
	return classify(err, http.StatusNotFound, codeNoSuchKey, codeNotFound)
}

// isPreconditionFailed: If-None-Match: * found the object.
func isPreconditionFailed(err error) bool {
	return classify(err, http.StatusPreconditionFailed, codePreconditionFailed)
}

// isConditionConflict: a concurrent conditional write of the same key was
// under way; S3 asks to try again.
func isConditionConflict(err error) bool {
	return classify(err, http.StatusConflict, codeConditionConflict)
}

func isNoSuchUpload(err error) bool { return errorCode(err) == codeNoSuchUpload }

// mapNotFound wraps ErrNotFound around an SDK error that means a missing
// object, keeping the SDK error in the chain.
func mapNotFound(err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// countAttempts makes an SDK call count the HTTP attempts it makes, its own
// retries included. A conditional write that failed on a retry may have
// succeeded on an attempt whose response was lost.
func countAttempts(n *int) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Insert(middleware.FinalizeMiddlewareFunc("TidemarkCountAttempts",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					*n++
					return next.HandleFinalize(ctx, in)
				}), "Retry", middleware.After)
		})
	}
}
