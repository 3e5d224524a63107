// Package storage is the small blob-store interface checkpoints are written
// through, with its file://, s3:// and in-memory implementations.
//
// Every implementation passes the behaviour suite in package storagetest;
// package faulty wraps any of them to inject errors and latency in tests.
package storage
