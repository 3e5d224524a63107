// Package httpapi serves the processor's operational HTTP endpoints:
// /healthz, /readyz, the checkpoint history at /api/v1/checkpoints and
// savepoints at /api/v1/savepoints.
package httpapi
