package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/checkpoint/storage"
)

// Environment variables of the S3 server, as `integration/services.sh env`
// prints them.
const (
	envS3Endpoint  = "TIDEMARK_S3_ENDPOINT"
	envS3Region    = "TIDEMARK_S3_REGION"
	envS3AccessKey = "TIDEMARK_S3_ACCESS_KEY"
	envS3SecretKey = "TIDEMARK_S3_SECRET_KEY"
	envS3Bucket    = "TIDEMARK_S3_BUCKET"
)

// backend opens one store per benchmark case, each under its own root.
type backend struct {
	name string
	// where describes the run's root, for the report.
	where string
	open  func(ctx context.Context, name string) (storage.Store, error)
	// remove deletes what a case's store holds.
	remove func(ctx context.Context, st storage.Store, name string) error
}

// fileBackend keeps every case's store under dir/<case>.
func fileBackend(dir string) backend {
	return backend{
		name:  "file",
		where: "file://" + dir,
		open: func(ctx context.Context, name string) (storage.Store, error) {
			return storage.Open(ctx, "file://"+filepath.Join(dir, name), storage.S3Config{})
		},
		remove: func(_ context.Context, _ storage.Store, name string) error {
			return os.RemoveAll(filepath.Join(dir, name))
		},
	}
}

// s3Available reports whether the S3 server's variables are set.
func s3Available() bool { return strings.TrimSpace(os.Getenv(envS3Endpoint)) != "" }

// s3Backend keeps every case's store under s3://bucket/<unique run
// prefix>/<case>/, with the static credentials of the environment.
func s3Backend(ctx context.Context) (backend, error) {
	get := func(k string) (string, error) {
		v := strings.TrimSpace(os.Getenv(k))
		if v == "" {
			return "", fmt.Errorf("s3: %s is set but %s is not (eval \"$(bash integration/services.sh env)\")", envS3Endpoint, k)
		}
		return v, nil
	}
	var vals [4]string
	for i, k := range []string{envS3Endpoint, envS3AccessKey, envS3SecretKey, envS3Bucket} {
		v, err := get(k)
		if err != nil {
			return backend{}, err
		}
		vals[i] = v
	}
	endpoint, access, secret, bucket := vals[0], vals[1], vals[2], vals[3]
	region := strings.TrimSpace(os.Getenv(envS3Region))
	// storage.NewS3Client takes credentials from the AWS default chain, of
	// which the environment comes first.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret} {
		if err := os.Setenv(k, v); err != nil {
			return backend{}, err
		}
	}
	if err := os.Unsetenv("AWS_SESSION_TOKEN"); err != nil {
		return backend{}, err
	}
	client, err := storage.NewS3Client(ctx, storage.S3Config{Endpoint: endpoint, Region: region, PathStyle: true})
	if err != nil {
		return backend{}, err
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return backend{}, err
	}
	prefix := "ckptbench-" + time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(rnd[:])
	return backend{
		name:  "s3",
		where: fmt.Sprintf("s3://%s/%s at %s", bucket, prefix, endpoint),
		open: func(_ context.Context, name string) (storage.Store, error) {
			return storage.NewS3(client, bucket, prefix+"/"+name), nil
		},
		remove: func(ctx context.Context, st storage.Store, _ string) error {
			return removeAll(ctx, st, "")
		},
	}, nil
}

// removeAll deletes every object of st under prefix.
func removeAll(ctx context.Context, st storage.Store, prefix string) error {
	infos, err := st.List(ctx, prefix)
	if err != nil {
		return err
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(8)
	for _, in := range infos {
		eg.Go(func() error { return st.Delete(ctx, in.Key) })
	}
	return eg.Wait()
}

// plainCopy uploads every file of a local checkpoint (dir/<task>/<file>)
// to st under prefix/<task>/<file> with plain Puts: no hashing, no
// metadata, no checkpoint logic. Tasks go up concurrently, at most
// concurrency at once, their files one after the other, as the
// coordinator's uploads do. It returns the time taken and bytes sent.
func plainCopy(ctx context.Context, st storage.Store, prefix, dir string, concurrency int) (time.Duration, int64, error) {
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	type file struct {
		key, path string
		size      int64
	}
	var byTask [][]file
	var total int64
	for _, t := range tasks {
		if !t.IsDir() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(dir, t.Name()))
		if err != nil {
			return 0, 0, err
		}
		var fs []file
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				return 0, 0, err
			}
			if !info.Mode().IsRegular() {
				continue
			}
			fs = append(fs, file{key: prefix + "/" + t.Name() + "/" + e.Name(), path: filepath.Join(dir, t.Name(), e.Name()), size: info.Size()})
			total += info.Size()
		}
		byTask = append(byTask, fs)
	}
	if len(byTask) == 0 {
		return 0, 0, fmt.Errorf("no task snapshots in %s", dir)
	}
	start := time.Now()
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(concurrency)
	for _, fs := range byTask {
		eg.Go(func() error {
			for _, f := range fs {
				if err := putFile(ectx, st, f.key, f.path, f.size); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return 0, 0, err
	}
	return time.Since(start), total, nil
}

func putFile(ctx context.Context, st storage.Store, key, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := st.Put(ctx, key, f, size); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}
