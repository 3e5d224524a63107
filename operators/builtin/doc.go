// Package builtin holds Tidemark's built-in operators and sources:
// passthrough, a running count per key, and a source of fixed records.
// Importing it registers the operators in plugin.Default() through their
// specs (register.go), the way a user's operator is registered.
package builtin
