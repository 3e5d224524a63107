// Package statelock gives a state directory to one process at a time: an
// exclusive advisory lock (flock) on a lock file inside it, which records
// the holder's pid, host and start time so that a second process can say
// who holds it. The kernel drops the lock when the holder exits, however
// it exits, so a crash never leaves a stale lock behind.
package statelock
