// Package permtest checks, in tests, that a directory tree is private to
// its user: directories 0700, regular files 0600.
package permtest
