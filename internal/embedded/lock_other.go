//go:build !unix

package embedded

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// flock does nothing where flock(2) does not exist: the data directory is
// not protected against a second broker there.
func flock(*os.File) error { return nil }
