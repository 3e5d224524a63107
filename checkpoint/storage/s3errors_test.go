package storage

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// sdkError builds an error shaped as the SDK returns it for an HTTP error
// response with the given status and error code ("" for a bodiless one).
func sdkError(status int, code string) error {
	var apiErr error = errors.New("no error body")
	if code != "" {
		apiErr = &smithy.GenericAPIError{Code: code, Message: "message"}
	}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "Op", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      apiErr,
		},
	}}
}

func TestS3ErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		err                              error
		notFound, precondition, conflict bool
	}{
		{sdkError(404, "NoSuchKey"), true, false, false},
		{sdkError(404, "NotFound"), true, false, false},
		{sdkError(404, ""), true, false, false},
		{sdkError(404, "NoSuchBucket"), false, false, false},
		{sdkError(404, "NoSuchUpload"), false, false, false},
		{sdkError(412, "PreconditionFailed"), false, true, false},
		{sdkError(412, ""), false, true, false},
		{sdkError(409, "ConditionalRequestConflict"), false, false, true},
		{sdkError(409, ""), false, false, true},
		{sdkError(409, "ExistingObjectIsDirectory"), false, false, false},
		{sdkError(403, "AccessDenied"), false, false, false},
		{fmt.Errorf("wrapped: %w", sdkError(412, "PreconditionFailed")), false, true, false},
		{errors.New("connection reset"), false, false, false},
	} {
		if got := isNotFound(tc.err); got != tc.notFound {
			t.Errorf("isNotFound(%v) = %v", tc.err, got)
		}
		if got := isPreconditionFailed(tc.err); got != tc.precondition {
			t.Errorf("isPreconditionFailed(%v) = %v", tc.err, got)
		}
		if got := isConditionConflict(tc.err); got != tc.conflict {
			t.Errorf("isConditionConflict(%v) = %v", tc.err, got)
		}
	}
	err := mapNotFound(sdkError(404, "NoSuchKey"))
	if !errors.Is(err, ErrNotFound) || httpStatus(err) != 404 {
		t.Errorf("mapNotFound lost ErrNotFound or the SDK error: %v", err)
	}
	s := &s3Store{}
	err = s.writeError(sdkError(412, "PreconditionFailed"), true)
	if !errors.Is(err, ErrExists) {
		t.Errorf("writeError of a 412 on PutIfAbsent = %v, want ErrExists", err)
	}
	if err := s.writeError(sdkError(412, "PreconditionFailed"), false); errors.Is(err, ErrExists) {
		t.Errorf("writeError of a 412 on Put = %v, want no ErrExists", err)
	}
}
