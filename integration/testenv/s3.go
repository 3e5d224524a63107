package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3Env describes a running S3-compatible server and the bucket tests use.
type S3Env struct {
	Endpoint  string // e.g. http://127.0.0.1:7070
	Region    string
	AccessKey string
	SecretKey string
	Bucket    string // exists; shared by all tests: use Prefix
}

// S3 returns the test S3 server, starting it on first use. The test fails if
// S3 cannot be had.
func S3(t testing.TB) S3Env {
	t.Helper()
	h := getHarness(t)
	vars, err := h.get(&h.s3, "s3", s3FromEnv, checkS3)
	if err != nil {
		t.Fatalf("testenv: S3 is not available: %v", err)
	}
	return s3Env(vars)
}

func s3FromEnv() (map[string]string, error) {
	if strings.TrimSpace(os.Getenv(EnvS3Endpoint)) == "" {
		return nil, nil
	}
	vars := map[string]string{EnvS3Region: "us-east-1"}
	for _, k := range []string{EnvS3Endpoint, EnvS3Region, EnvS3AccessKey, EnvS3SecretKey, EnvS3Bucket} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			vars[k] = v
		} else if k != EnvS3Region {
			return nil, fmt.Errorf("%s is set but %s is not", EnvS3Endpoint, k)
		}
	}
	return vars, nil
}

func s3Env(vars map[string]string) S3Env {
	return S3Env{
		Endpoint:  vars[EnvS3Endpoint],
		Region:    vars[EnvS3Region],
		AccessKey: vars[EnvS3AccessKey],
		SecretKey: vars[EnvS3SecretKey],
		Bucket:    vars[EnvS3Bucket],
	}
}

// checkS3 checks that the server answers and the bucket exists.
func checkS3(vars map[string]string) error {
	e := s3Env(vars)
	u, err := url.Parse(e.Endpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad %s %q", EnvS3Endpoint, e.Endpoint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.Client().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(e.Bucket)}); err != nil {
		return fmt.Errorf("HeadBucket %s at %s: %w", e.Bucket, e.Endpoint, err)
	}
	return nil
}

// Client returns an S3 client for the server: path-style addressing, static
// credentials, the env's region; nothing is read from ~/.aws or AWS_*.
func (e S3Env) Client(optFns ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		Region:       e.Region,
		BaseEndpoint: aws.String(e.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(e.AccessKey, e.SecretKey, ""),
	}, optFns...)
}

// Prefix returns a key prefix ("<unique name>/") in e.Bucket unique to this
// test. Objects under it are deleted when the test ends, unless the test
// failed (to leave them for inspection).
func (e S3Env) Prefix(t testing.TB) string {
	t.Helper()
	prefix := UniqueName(t, "") + "/"
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: keeping s3://%s/%s of a failed test", e.Bucket, prefix)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.deletePrefix(ctx, prefix); err != nil {
			t.Logf("testenv: deleting s3://%s/%s: %v", e.Bucket, prefix, err)
		}
	})
	return prefix
}

func (e S3Env) deletePrefix(ctx context.Context, prefix string) error {
	cl := e.Client()
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(e.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, 0, len(page.Contents))
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		out, err := cl.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(e.Bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			return fmt.Errorf("DeleteObjects: %d errors, first: %s: %s", len(out.Errors), aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
		}
	}
	return nil
}
