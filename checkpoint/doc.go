// Package checkpoint coordinates consistent checkpoints and stores them:
// barriers, snapshot metadata, file and S3 storage, incremental upload,
// retention and restore. The checkpoint engine fills it in.
package checkpoint
