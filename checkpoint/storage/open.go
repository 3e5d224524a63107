package storage

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// Open returns the store a checkpoint root URI names:
//
//   - file:///abs/path: NewFile on that directory (created if missing);
//   - s3://bucket/prefix: NewS3 on the bucket and key prefix (which may be
//     empty), with a client from NewS3Client(ctx, s3cfg) and opts.
//
// s3cfg and opts are ignored for file URIs.
func Open(ctx context.Context, uri string, s3cfg S3Config, opts ...S3Option) (Store, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("storage: open %q: %w", uri, err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("storage: open %q: query, fragment and user info are not allowed", uri)
	}
	switch u.Scheme {
	case "file":
		if (u.Host != "" && u.Host != "localhost") || !strings.HasPrefix(u.Path, "/") {
			return nil, fmt.Errorf("storage: open %q: a file URI needs an absolute path: file:///path", uri)
		}
		s, err := NewFile(u.Path)
		if err != nil {
			return nil, fmt.Errorf("storage: open %q: %w", uri, err)
		}
		return s, nil
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("storage: open %q: an s3 URI needs a bucket: s3://bucket/prefix", uri)
		}
		prefix := strings.TrimPrefix(u.Path, "/")
		if prefix != "" {
			if err := ValidateKey(strings.TrimSuffix(prefix, "/")); err != nil {
				return nil, fmt.Errorf("storage: open %q: bad prefix: %w", uri, err)
			}
		}
		client, err := NewS3Client(ctx, s3cfg)
		if err != nil {
			return nil, fmt.Errorf("storage: open %q: %w", uri, err)
		}
		return NewS3(client, u.Host, prefix, opts...), nil
	default:
		return nil, fmt.Errorf("storage: open %q: unsupported scheme %q: want file:///path or s3://bucket/prefix", uri, u.Scheme)
	}
}
