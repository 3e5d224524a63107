// Package integration holds the smoke tests of the integration-test services
// (real Apache Kafka and a real S3 server, see README.md and package testenv).
// It has no non-test code.
package integration
