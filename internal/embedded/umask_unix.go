//go:build unix

package embedded

import "syscall"

// privateUmask makes the files and directories this process creates
// private to its user.
func privateUmask() { syscall.Umask(0o077) }
