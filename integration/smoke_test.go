package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/integration/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestKafkaTransactionsReadCommitted commits one batch, aborts one, commits
// another, and checks that a read_committed consumer sees exactly the
// committed records while a read_uncommitted one sees all of them.
func TestKafkaTransactionsReadCommitted(t *testing.T) {
	k := testenv.Kafka(t)
	topic := k.CreateTopic(t, 1, nil)
	t.Logf("kafka: brokers %v, topic %s", k.Brokers, topic)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	prod := k.Client(t,
		kgo.TransactionalID(testenv.UniqueName(t, "txn")),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordRetries(10),
	)
	txn := func(commit bool, values ...string) {
		t.Helper()
		if err := prod.BeginTransaction(); err != nil {
			t.Fatalf("BeginTransaction: %v", err)
		}
		for _, v := range values {
			if err := prod.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatalf("produce %q: %v", v, err)
			}
		}
		if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("EndTransaction(commit=%v): %v", commit, err)
		}
	}
	txn(true, "c1", "c2", "c3")
	txn(false, "a1", "a2", "a3")
	txn(true, "c4") // its arrival bounds the read: everything before it is decided

	consume := func(level kgo.IsolationLevel, want int) []string {
		t.Helper()
		cl := k.Client(t,
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(level),
		)
		var got []string
		for !slices.Contains(got, "c4") {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consumed %q, then: %v", got, err)
			}
			for _, e := range fs.Errors() {
				t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if len(got) != want {
			t.Fatalf("consumed %d records %q, want %d", len(got), got, want)
		}
		return got
	}

	committed := consume(kgo.ReadCommitted(), 4)
	if want := []string{"c1", "c2", "c3", "c4"}; !slices.Equal(committed, want) {
		t.Errorf("read_committed got %q, want %q", committed, want)
	}
	all := consume(kgo.ReadUncommitted(), 7)
	if want := []string{"c1", "c2", "c3", "a1", "a2", "a3", "c4"}; !slices.Equal(all, want) {
		t.Errorf("read_uncommitted got %q, want %q", all, want)
	}
	t.Logf("read_committed saw %q; read_uncommitted saw %q", committed, all)
}

// TestS3Objects exercises put / get / list / delete.
func TestS3Objects(t *testing.T) {
	env := testenv.S3(t)
	cl := env.Client()
	prefix := env.Prefix(t)
	t.Logf("s3: endpoint %s, bucket %s, prefix %s", env.Endpoint, env.Bucket, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	keys := []string{prefix + "a", prefix + "b/c", prefix + "d"}
	for _, key := range keys {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(env.Bucket), Key: aws.String(key),
			Body: strings.NewReader("body of " + key),
		}); err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
	}
	if got := getObject(ctx, t, cl, env.Bucket, keys[1]); string(got) != "body of "+keys[1] {
		t.Errorf("GetObject %s = %q", keys[1], got)
	}
	if got := listKeys(ctx, t, cl, env.Bucket, prefix); !slices.Equal(got, keys) {
		t.Errorf("ListObjectsV2 = %q, want %q", got, keys)
	}
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(env.Bucket), Key: aws.String(keys[0])}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if got, want := listKeys(ctx, t, cl, env.Bucket, prefix), keys[1:]; !slices.Equal(got, want) {
		t.Errorf("after delete, ListObjectsV2 = %q, want %q", got, want)
	}
	_, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(env.Bucket), Key: aws.String(keys[0])})
	if status := httpStatus(err); status != http.StatusNotFound {
		t.Errorf("HeadObject of a deleted key: status %d, err %v; want 404", status, err)
	}
}

// TestS3Multipart uploads an object in three parts (5 MiB, 5 MiB, 1 KiB) and
// reads it back.
func TestS3Multipart(t *testing.T) {
	env := testenv.S3(t)
	cl := env.Client()
	key := env.Prefix(t) + "multipart"
	t.Logf("s3: endpoint %s, bucket %s, key %s", env.Endpoint, env.Bucket, key)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	parts := [][]byte{make([]byte, 5<<20), make([]byte, 5<<20), make([]byte, 1<<10)}
	for _, p := range parts {
		_, _ = rng.Read(p)
	}
	whole := bytes.Join(parts, nil)

	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(env.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	var completed []types.CompletedPart
	for i, p := range parts {
		n := int32(i + 1)
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(env.Bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(p),
		})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", n, err)
		}
		completed = append(completed, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(env.Bucket), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	}); err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	got := getObject(ctx, t, cl, env.Bucket, key)
	if len(got) != len(whole) || sha256.Sum256(got) != sha256.Sum256(whole) {
		t.Fatalf("read back %d bytes (sha256 %x), want %d bytes (sha256 %x)", len(got), sha256.Sum256(got), len(whole), sha256.Sum256(whole))
	}
	t.Logf("multipart object of %d bytes in %d parts reads back identical", len(whole), len(parts))
}

// TestS3IfNoneMatch checks conditional creation: If-None-Match: * on an
// existing key fails with 412, on PutObject and on CompleteMultipartUpload.
func TestS3IfNoneMatch(t *testing.T) {
	env := testenv.S3(t)
	cl := env.Client()
	prefix := env.Prefix(t)
	t.Logf("s3: endpoint %s, bucket %s, prefix %s", env.Endpoint, env.Bucket, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	key := prefix + "_metadata"
	put := func(body string) error {
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(env.Bucket), Key: aws.String(key),
			Body: strings.NewReader(body), IfNoneMatch: aws.String("*"),
		})
		return err
	}
	if err := put("first"); err != nil {
		t.Fatalf("conditional PutObject of a new key: %v", err)
	}
	err := put("second")
	if status := httpStatus(err); status != http.StatusPreconditionFailed {
		t.Fatalf("conditional PutObject of an existing key: status %d, err %v; want 412", status, err)
	}
	t.Logf("PutObject If-None-Match on an existing key: %v", err)
	if got := getObject(ctx, t, cl, env.Bucket, key); string(got) != "first" {
		t.Errorf("object = %q after the refused overwrite, want %q", got, "first")
	}

	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(env.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	part, err := cl.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(env.Bucket), Key: aws.String(key), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("third"),
	})
	if err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	_, err = cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(env.Bucket), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}},
		IfNoneMatch:     aws.String("*"),
	})
	if status := httpStatus(err); status != http.StatusPreconditionFailed {
		t.Fatalf("conditional CompleteMultipartUpload of an existing key: status %d, err %v; want 412", status, err)
	}
	if _, err := cl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(env.Bucket), Key: aws.String(key), UploadId: up.UploadId}); err != nil {
		t.Logf("AbortMultipartUpload: %v", err)
	}
	if got := getObject(ctx, t, cl, env.Bucket, key); string(got) != "first" {
		t.Errorf("object = %q after the refused multipart overwrite, want %q", got, "first")
	}
}

func getObject(ctx context.Context, t *testing.T, cl *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject %s: reading body: %v", key, err)
	}
	return b
}

func listKeys(ctx context.Context, t *testing.T, cl *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListObjectsV2 %s: %v", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// httpStatus returns the HTTP status of an SDK error, 0 for nil or none.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
