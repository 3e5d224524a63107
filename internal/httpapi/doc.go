// Package httpapi serves the processor's operational HTTP endpoints:
// /healthz (the process is up) and /readyz (it restored and is processing).
package httpapi
