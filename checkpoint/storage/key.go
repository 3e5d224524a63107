package storage

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the longest key in bytes (S3's limit, less any prefix).
const MaxKeyLen = 1024

// TempPrefix starts the names of in-progress writes of the directory store.
// No key segment may start with it, and List never reports such names.
const TempPrefix = ".tmp-"

// ValidateKey reports whether key is a valid object key: non-empty, at most
// MaxKeyLen bytes of UTF-8 without control characters, slash-separated
// segments none of which is empty, "." or "..", or starts with TempPrefix
// (so no leading, trailing or doubled slash). The error wraps ErrInvalidKey
// and names the key.
func ValidateKey(key string) error {
	if reason := keyProblem(key); reason != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, reason)
	}
	return nil
}

// checkKey is ValidateKey for errors that the caller wraps with the key.
func checkKey(key string) error {
	if reason := keyProblem(key); reason != "" {
		return fmt.Errorf("%w: %s", ErrInvalidKey, reason)
	}
	return nil
}

func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyLen:
		return fmt.Sprintf("longer than %d bytes", MaxKeyLen)
	case !utf8.ValidString(key):
		return "not UTF-8"
	case strings.HasPrefix(key, "/"):
		return "absolute (leading slash)"
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return fmt.Sprintf("control character %U", r)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return "empty path segment"
		case seg == "." || seg == "..":
			return fmt.Sprintf("%q path segment", seg)
		case strings.HasPrefix(seg, TempPrefix):
			return fmt.Sprintf("segment %q starts with the reserved %q", seg, TempPrefix)
		}
	}
	return ""
}

// validatePrefix checks a List prefix: the part up to its last slash must be
// a valid key.
func validatePrefix(prefix string) error {
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		if reason := keyProblem(prefix[:i]); reason != "" {
			return fmt.Errorf("%w: directory part of the prefix: %s", ErrInvalidKey, reason)
		}
	}
	return nil
}
