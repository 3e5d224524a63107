//go:build !unix

package statelock

import "os"

// tryLock does not lock where flock does not exist: the lock file still
// names its last holder.
func tryLock(*os.File) (held bool, err error) { return false, nil }

func unlock(*os.File) error { return nil }
