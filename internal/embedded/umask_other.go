//go:build !unix

package embedded

// privateUmask does nothing where there is no umask.
func privateUmask() {}
