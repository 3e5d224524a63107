package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tidemark/tidemark/checkpoint/storage"
	"github.com/tidemark/tidemark/checkpoint/storage/faulty"
	"github.com/tidemark/tidemark/checkpoint/storage/storagetest"
	"github.com/tidemark/tidemark/integration/testenv"
)

// TestStorageS3 runs the storage behaviour suite against versitygw, with a
// client on the SDK's default checksum settings and 5 MiB parts.
func TestStorageS3(t *testing.T) {
	env := testenv.S3(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return storage.NewS3(env.Client(), env.Bucket, env.Prefix(t), storage.WithPartSize(storage.MinPartSize))
	})
}

// awsEnv points the AWS default credential chain at the test server's
// credentials, through the environment only.
func awsEnv(t *testing.T, env testenv.S3Env, secret string) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           env.AccessKey,
		"AWS_SECRET_ACCESS_KEY":       secret,
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_S3":         "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

// TestStorageS3Open runs the suite against stores from storage.Open with an
// s3:// URI: NewS3Client, credentials from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY.
func TestStorageS3Open(t *testing.T) {
	env := testenv.S3(t)
	awsEnv(t, env, env.SecretKey)
	cfg := storage.S3Config{Endpoint: env.Endpoint, Region: env.Region, PathStyle: true}
	ctx := context.Background()
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := storage.Open(ctx, "s3://"+env.Bucket+"/"+env.Prefix(t), cfg, storage.WithPartSize(storage.MinPartSize))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})

	t.Run("WrongSecret", func(t *testing.T) {
		awsEnv(t, env, "not-the-secret")
		s, err := storage.Open(ctx, "s3://"+env.Bucket+"/"+env.Prefix(t), cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		_, err = s.Stat(ctx, "k")
		if err == nil || errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Stat with a wrong secret key: err %v, want an authentication error", err)
		}
		t.Logf("with a wrong secret: %v", err)
	})

	t.Run("EmptyPrefix", func(t *testing.T) {
		// With no prefix the keys are the bucket's object keys; this test's
		// keys start with a unique name, removed at the end.
		name := strings.TrimSuffix(env.Prefix(t), "/")
		s, err := storage.Open(ctx, "s3://"+env.Bucket, cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := s.Put(ctx, name+"/k", strings.NewReader("v"), 1); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if _, err := env.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(env.Bucket), Key: aws.String(name + "/k")}); err != nil {
			t.Fatalf("HeadObject of the object Put wrote: %v", err)
		}
	})
}

// TestStorageS3Layout checks where objects go in the bucket and that List
// leaves out objects other tools wrote under keys the store cannot have.
func TestStorageS3Layout(t *testing.T) {
	env := testenv.S3(t)
	cl := env.Client()
	prefix := env.Prefix(t)
	ctx := context.Background()
	s := storage.NewS3(cl, env.Bucket, strings.TrimSuffix(prefix, "/")) // a slash is added
	if err := s.Put(ctx, "job/chk-000001/_metadata", strings.NewReader("meta"), 4); err != nil {
		t.Fatal(err)
	}
	if got := getObject(ctx, t, cl, env.Bucket, prefix+"job/chk-000001/_metadata"); string(got) != "meta" {
		t.Fatalf("object at %s = %q", prefix+"job/chk-000001/_metadata", got)
	}
	// A directory marker and a name the store reserves, written by others.
	for _, foreign := range []string{"job/", "job/" + storage.TempPrefix + "foreign"} {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(env.Bucket), Key: aws.String(prefix + foreign), Body: strings.NewReader("")}); err != nil {
			t.Fatalf("PutObject %q: %v", foreign, err)
		}
	}
	if got := listKeys(ctx, t, cl, env.Bucket, prefix); len(got) < 2 {
		t.Fatalf("ListObjectsV2 shows %q, want the foreign objects too", got)
	}
	infos, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Key != "job/chk-000001/_metadata" || infos[0].Size != 4 {
		t.Fatalf("List = %+v, want only job/chk-000001/_metadata of 4 bytes", infos)
	}
}

// TestStorageS3CrashMidUpload breaks the reader of multipart uploads part
// way through: nothing becomes visible, and no upload is left open.
func TestStorageS3CrashMidUpload(t *testing.T) {
	env := testenv.S3(t)
	cl := env.Client()
	prefix := env.Prefix(t)
	ctx := context.Background()
	s := faulty.New(storage.NewS3(cl, env.Bucket, prefix, storage.WithPartSize(storage.MinPartSize)))
	body := make([]byte, 12<<20)
	rand.NewChaCha8([32]byte{9}).Read(body)
	for _, n := range []int64{100, storage.MinPartSize + 100, int64(len(body))} {
		in := s.Inject(faulty.Rule{Ops: faulty.OpPut | faulty.OpPutIfAbsent, Effect: faulty.BreakStream(n)})
		for _, put := range []func(context.Context, string, io.Reader, int64) error{s.Put, s.PutIfAbsent} {
			if err := put(ctx, "big", bytes.NewReader(body), int64(len(body))); !errors.Is(err, faulty.ErrInjected) {
				t.Fatalf("Put broken after %d bytes: err %v, want ErrInjected", n, err)
			}
		}
		in.Disarm()
		if _, err := s.Stat(ctx, "big"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("after a Put broken after %d bytes, Stat: err %v, want ErrNotFound", n, err)
		}
	}
	ups, err := cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(env.Bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	if len(ups.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left open under %s", len(ups.Uploads), prefix)
	}
	if got := s.Calls(faulty.OpPut | faulty.OpPutIfAbsent); got != 6 {
		t.Errorf("counted %d puts, want 6", got)
	}
}

// spoiler is an http.RoundTripper that spoils the first requests matching
// match: it either forwards the request and then loses the response (a
// connection reset after the server acted), or answers with respond instead
// of forwarding.
type spoiler struct {
	match   func(*http.Request) bool
	respond func(*http.Request) *http.Response // nil: forward, lose the response

	mu      sync.Mutex
	spoil   int // matching requests still to spoil
	matched int // matching requests seen
}

func (s *spoiler) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	spoil := false
	if s.match(req) {
		s.matched++
		spoil = s.spoil > 0
		if spoil {
			s.spoil--
		}
	}
	s.mu.Unlock()
	if spoil && s.respond != nil {
		if req.Body != nil { // as a server that read the request, then refused it
			io.Copy(io.Discard, req.Body)
			req.Body.Close()
		}
		return s.respond(req), nil
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !spoil {
		return resp, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, errors.New("read tcp: connection reset by peer (spoiled by the test)")
}

func (s *spoiler) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.matched
}

func conditional(req *http.Request) bool { return req.Header.Get("If-None-Match") == "*" }

func completion(req *http.Request) bool {
	return req.Method == http.MethodPost && req.URL.Query().Has("uploadId")
}

func spoiledStore(t *testing.T, env testenv.S3Env, sp *spoiler) storage.Store {
	cl := env.Client(func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: sp} })
	return storage.NewS3(cl, env.Bucket, env.Prefix(t), storage.WithPartSize(storage.MinPartSize))
}

// TestStorageS3LostResponse: the SDK retries a conditional write whose
// response was lost after the server wrote the object; the retry meets the
// object (412) and the store must still report success, since the object
// is its own. An object that is someone else's stays ErrExists.
func TestStorageS3LostResponse(t *testing.T) {
	env := testenv.S3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	large := make([]byte, 11<<20)
	rand.NewChaCha8([32]byte{5}).Read(large)

	for _, tc := range []struct {
		name     string
		match    func(*http.Request) bool
		ifAbsent bool
		body     []byte
	}{
		{"PutIfAbsent", conditional, true, []byte("checkpoint 7 metadata")},
		{"PutIfAbsentMultipart", func(r *http.Request) bool { return conditional(r) && completion(r) }, true, large},
		{"PutMultipart", completion, false, large},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := &spoiler{match: tc.match, spoil: 1}
			s := spoiledStore(t, env, sp)
			put := s.Put
			if tc.ifAbsent {
				put = s.PutIfAbsent
			}
			if err := put(ctx, "_metadata", bytes.NewReader(tc.body), int64(len(tc.body))); err != nil {
				t.Fatalf("write whose first response was lost: %v", err)
			}
			if sp.count() < 2 {
				t.Fatalf("the SDK sent the spoiled request %d times, want a retry", sp.count())
			}
			rc, err := s.Get(ctx, "_metadata")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, tc.body) {
				t.Fatalf("read back %d bytes (err %v), want the %d written", len(got), err, len(tc.body))
			}
			if !tc.ifAbsent {
				return
			}
			// Someone else's object: the retry's 412 is a real one.
			sp.mu.Lock()
			sp.spoil, sp.matched = 1, 0
			sp.mu.Unlock()
			other := append([]byte("zombie "), tc.body...)
			err = s.PutIfAbsent(ctx, "_metadata", bytes.NewReader(other), int64(len(other)))
			if !errors.Is(err, storage.ErrExists) {
				t.Fatalf("PutIfAbsent of other bytes over an existing object, first response lost: err %v, want ErrExists", err)
			}
		})
	}
}

// conflictResponse is a 409 error response with the given S3 error code.
func conflictResponse(code string) func(*http.Request) *http.Response {
	return func(req *http.Request) *http.Response {
		body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Error><Code>` + code + `</Code><Message>spoiled by the test</Message></Error>`
		return &http.Response{
			StatusCode:    http.StatusConflict,
			Status:        "409 Conflict",
			Proto:         "HTTP/1.1",
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        http.Header{"Content-Type": {"application/xml"}},
			Body:          io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)),
			Request:       req,
		}
	}
}

// TestStorageS3Conflicts: the store tries a write again after a 409 that
// says nothing was written: ConditionalRequestConflict (conditional writes
// of one key racing on S3) and ExistingObjectIsDirectory (versitygw's POSIX
// backend racing a Delete that removed the emptied parent directory). The
// body is sent whole on every try.
func TestStorageS3Conflicts(t *testing.T) {
	env := testenv.S3(t)
	ctx := context.Background()
	body := "checkpoint metadata, some bytes of it"
	for _, tc := range []struct {
		code     string
		ifAbsent bool
	}{
		{"ConditionalRequestConflict", true},
		{"ExistingObjectIsDirectory", true},
		{"ExistingObjectIsDirectory", false},
	} {
		t.Run(fmt.Sprintf("%s/ifAbsent=%v", tc.code, tc.ifAbsent), func(t *testing.T) {
			sp := &spoiler{match: func(r *http.Request) bool { return r.Method == http.MethodPut }, spoil: 2, respond: conflictResponse(tc.code)}
			s := spoiledStore(t, env, sp)
			put := s.Put
			if tc.ifAbsent {
				put = s.PutIfAbsent
			}
			if err := put(ctx, "_metadata", strings.NewReader(body), int64(len(body))); err != nil {
				t.Fatalf("write after two conflicts: %v", err)
			}
			if sp.count() != 3 {
				t.Fatalf("PUT requests sent: %d, want 3", sp.count())
			}
			rc, err := s.Get(ctx, "_metadata")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(got) != body {
				t.Fatalf("read back %q (err %v), want %q", got, err, body)
			}
			// Conflicts that do not end fail the write; for PutIfAbsent a
			// lasting ConditionalRequestConflict counts as ErrExists.
			sp.mu.Lock()
			sp.spoil = 100
			sp.mu.Unlock()
			err = put(ctx, "other", strings.NewReader(body), int64(len(body)))
			if wantExists := tc.code == "ConditionalRequestConflict"; err == nil || errors.Is(err, storage.ErrExists) != wantExists {
				t.Fatalf("write that always conflicts: err %v, want an error (ErrExists: %v)", err, wantExists)
			}
		})
	}
}
