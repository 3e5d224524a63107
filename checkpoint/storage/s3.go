package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Multipart sizes.
const (
	// DefaultPartSize is the part size, and so the largest object written
	// with a single PutObject, unless WithPartSize says otherwise.
	DefaultPartSize = 16 << 20
	// MinPartSize is S3's smallest part (but the last).
	MinPartSize = 5 << 20
	// maxParts is S3's largest part count; bigger objects get bigger parts.
	maxParts = 10000
)

// Writes that fail in a way that says nothing was written and a later try
// may succeed are tried again this often, backing off from conflictBackoff:
//
//   - a conditional write that met a concurrent conditional write of the
//     same key (409 ConditionalRequestConflict; if it persists, it counts as
//     ErrExists);
//   - a PutObject that versitygw's POSIX backend refused with 409
//     ExistingObjectIsDirectory because a concurrent DeleteObject removed the
//     emptied parent directory while it was creating it.
const (
	conflictRetries = 4
	conflictBackoff = 50 * time.Millisecond
)

// abortTimeout bounds the clean-up of a failed multipart upload, which runs
// even if the caller's context has ended.
const abortTimeout = time.Minute

// S3Option configures NewS3.
type S3Option func(*s3Store)

// WithPartSize sets the multipart threshold and part size: objects of at
// most n bytes go up in one PutObject, bigger ones in parts of n bytes (more
// if the object would need over 10000 parts). One upload buffers one part in
// memory. Default DefaultPartSize; values below MinPartSize are raised to it.
func WithPartSize(n int64) S3Option {
	return func(s *s3Store) { s.partSize = max(n, MinPartSize) }
}

// s3Store keeps objects in an S3 bucket under a key prefix.
type s3Store struct {
	client   *s3.Client
	bucket   string
	prefix   string // "" or ends in "/"
	partSize int64
}

// NewS3 returns a Store that keeps each object as the S3 object
// prefix+key in bucket; prefix may be empty, and a slash is added to a
// prefix that lacks one. The client's own retries apply to every request.
//
// PutIfAbsent uses If-None-Match: * on PutObject and on
// CompleteMultipartUpload. If the SDK retried such a request and the retry
// found the object (412), the first attempt may have written it and lost
// its response: the store then reads the object back and reports success
// if it holds exactly the bytes being written (so a PutIfAbsent racing
// another of identical bytes may also succeed).
func NewS3(client *s3.Client, bucket, prefix string, opts ...S3Option) Store {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &s3Store{client: client, bucket: bucket, prefix: prefix, partSize: DefaultPartSize}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *s3Store) objectKey(key string) *string { return aws.String(s.prefix + key) }

func (s *s3Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.put(ctx, key, r, size, false); err != nil {
		return fmt.Errorf("storage: put %q: %w", key, err)
	}
	return nil
}

func (s *s3Store) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.put(ctx, key, r, size, true); err != nil {
		return fmt.Errorf("storage: put-if-absent %q: %w", key, err)
	}
	return nil
}

func (s *s3Store) put(ctx context.Context, key string, r io.Reader, size int64, ifAbsent bool) error {
	if err := begin(ctx, key, size); err != nil {
		return err
	}
	r = ctxReader{ctx, r}
	if size > s.partSize {
		return s.putMultipart(ctx, key, r, size, ifAbsent)
	}
	buf := make([]byte, size)
	if err := readExact(r, buf, 0, size); err != nil {
		return err
	}
	if err := expectEOF(r, size); err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           s.objectKey(key),
		ContentLength: aws.Int64(size),
	}
	if ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	ambiguous, err := s.send(ctx, ifAbsent, func(optFns ...func(*s3.Options)) error {
		in.Body = bytes.NewReader(buf) // from the start on every try
		_, err := s.client.PutObject(ctx, in, optFns...)
		return err
	})
	if err == nil {
		return nil
	}
	if ambiguous && isPreconditionFailed(err) {
		sum := sha256.Sum256(buf)
		if s.holds(ctx, key, size, sum[:]) {
			return nil
		}
	}
	return s.writeError(err, ifAbsent)
}

// putMultipart uploads size bytes of r in parts, each read into a buffer
// first (so r need not be seekable), and aborts the upload if anything
// fails.
func (s *s3Store) putMultipart(ctx context.Context, key string, r io.Reader, size int64, ifAbsent bool) (err error) {
	partSize := max(s.partSize, (size+maxParts-1)/maxParts)
	if ifAbsent {
		// Fail early rather than upload parts in vain; the condition on
		// the completion is what decides.
		if _, err := s.head(ctx, key); err == nil {
			return ErrExists
		}
	}
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket),
		Key:    s.objectKey(key),
	})
	if err != nil {
		return err
	}
	completed := false
	defer func() {
		if completed {
			return
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if _, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket:   aws.String(s.bucket),
			Key:      s.objectKey(key),
			UploadId: created.UploadId,
		}); aerr != nil && !isNoSuchUpload(aerr) {
			err = errors.Join(err, fmt.Errorf("aborting multipart upload: %w", aerr))
		}
	}()

	buf := make([]byte, partSize)
	sum := sha256.New()
	var parts []types.CompletedPart
	for done, n := int64(0), int32(1); done < size; n++ {
		chunk := buf[:min(partSize, size-done)]
		if err := readExact(r, chunk, done, size); err != nil {
			return err
		}
		sum.Write(chunk)
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        aws.String(s.bucket),
			Key:           s.objectKey(key),
			UploadId:      created.UploadId,
			PartNumber:    aws.Int32(n),
			Body:          bytes.NewReader(chunk),
			ContentLength: aws.Int64(int64(len(chunk))),
		})
		if err != nil {
			return fmt.Errorf("part %d: %w", n, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
		done += int64(len(chunk))
	}
	if err := expectEOF(r, size); err != nil {
		return err
	}

	in := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             s.objectKey(key),
		UploadId:        created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	ambiguous, err := s.send(ctx, ifAbsent, func(optFns ...func(*s3.Options)) error {
		_, err := s.client.CompleteMultipartUpload(ctx, in, optFns...)
		return err
	})
	if err == nil {
		completed = true
		return nil
	}
	// A retried completion may find its own finished upload gone
	// (NoSuchUpload) or, if conditional, its own object there (412).
	if ambiguous && (isPreconditionFailed(err) || isNoSuchUpload(err)) && s.holds(ctx, key, size, sum.Sum(nil)) {
		completed = true
		return nil
	}
	return s.writeError(err, ifAbsent)
}

// send runs one write request, counting its attempts, and tries it again
// after the errors listed at conflictRetries. ambiguous
// reports whether any request was retried by the SDK, so that a failure may
// follow a success whose response was lost.
func (s *s3Store) send(ctx context.Context, conditional bool, do func(...func(*s3.Options)) error) (ambiguous bool, err error) {
	backoff := conflictBackoff
	for i := 0; ; i++ {
		attempts := 0
		err = do(countAttempts(&attempts))
		ambiguous = ambiguous || attempts > 1
		again := (conditional && isConditionConflict(err)) || errorCode(err) == codeObjectIsDirectory
		if err == nil || !again || i == conflictRetries {
			return ambiguous, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ambiguous, fmt.Errorf("%w (while waiting to retry after: %v)", ctx.Err(), err)
		case <-t.C:
		}
		backoff *= 2
	}
}

// writeError maps the failure of a write's final request.
func (s *s3Store) writeError(err error, ifAbsent bool) error {
	if ifAbsent && (isPreconditionFailed(err) || isConditionConflict(err)) {
		return fmt.Errorf("%w: %w", ErrExists, err)
	}
	return err
}

// holds reports whether the object key has size bytes with SHA-256 sum.
func (s *s3Store) holds(ctx context.Context, key string, size int64, sum []byte) bool {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)})
	if err != nil {
		return false
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	return err == nil && n == size && bytes.Equal(h.Sum(nil), sum)
}

func (s *s3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := begin(ctx, key, 0); err != nil {
		return nil, fmt.Errorf("storage: get %q: %w", key, err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)})
	if err != nil {
		return nil, fmt.Errorf("storage: get %q: %w", key, mapNotFound(err))
	}
	return out.Body, nil
}

func (s *s3Store) Stat(ctx context.Context, key string) (Info, error) {
	if err := begin(ctx, key, 0); err != nil {
		return Info{}, fmt.Errorf("storage: stat %q: %w", key, err)
	}
	info, err := s.head(ctx, key)
	if err != nil {
		return Info{}, fmt.Errorf("storage: stat %q: %w", key, mapNotFound(err))
	}
	return info, nil
}

func (s *s3Store) head(ctx context.Context, key string) (Info, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)})
	if err != nil {
		return Info{}, err
	}
	return Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// List pages through ListObjectsV2. Objects under the prefix whose keys are
// not valid store keys (written by other tools, such as "dir/" markers) are
// left out.
func (s *s3Store) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage: list %q: %w", prefix, err)
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("storage: list %q: %w", prefix, err)
	}
	infos := []Info{}
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("storage: list %q: %w", prefix, err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || !strings.HasPrefix(key, prefix) || keyProblem(key) != "" {
				continue
			}
			infos = append(infos, Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	slices.SortFunc(infos, compareKeys)
	return infos, nil
}

func (s *s3Store) Delete(ctx context.Context, key string) error {
	if err := begin(ctx, key, 0); err != nil {
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	return nil
}

// Close does nothing: the client belongs to the caller.
func (s *s3Store) Close() error { return nil }
