package storage

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Config says how to reach S3. Credentials are not part of it: they come
// from the AWS default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
// shared config and credentials files, web identity, container and instance
// roles).
type S3Config struct {
	// Endpoint is the S3 endpoint URL, e.g. http://127.0.0.1:7070 for an
	// S3-compatible server. Empty means AWS, resolved from the region.
	Endpoint string
	// Region of the bucket. Empty means the default chain's (AWS_REGION,
	// the shared config), and us-east-1 if that has none.
	Region string
	// PathStyle addresses buckets as endpoint/bucket instead of
	// bucket.endpoint; most S3-compatible servers need it.
	PathStyle bool
}

// defaultRegion is used when neither the config nor the default chain names
// a region; S3-compatible servers mostly accept any.
const defaultRegion = "us-east-1"

// NewS3Client returns an S3 client for cfg with credentials from the AWS
// default chain.
//
// With an Endpoint (an S3-compatible server), request checksums are only
// sent and response checksums only checked where S3 requires them: the
// SDK's default since early 2025 ("when supported") adds CRC headers and
// aws-chunked trailers that many S3-compatible servers reject. Against AWS
// the SDK default stays. Checkpoint files carry their own checksums in the
// checkpoint metadata either way.
func NewS3Client(ctx context.Context, cfg S3Config) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if cfg.Endpoint != "" {
		opts = append(opts,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		)
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("storage: s3 client: loading AWS config: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = defaultRegion
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	}), nil
}
