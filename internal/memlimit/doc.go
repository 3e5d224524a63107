// Package memlimit sets the Go runtime's soft memory limit of the processor
// at start-up: from the GOMEMLIMIT variable if set (the runtime has then
// applied it already), else from the configuration (process.memory_limit),
// else from the container's memory limit (cgroup v2 memory.max, or cgroup v1
// memory.limit_in_bytes) minus headroom, so that the garbage collector works
// harder as the process nears the limit instead of the kernel killing it.
package memlimit
