// Package builtin holds Tidemark's built-in operators and sources:
// passthrough, a running count per key, and a source of fixed records.
package builtin
