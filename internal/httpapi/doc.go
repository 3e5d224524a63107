// Package httpapi serves the processor's operational HTTP endpoints:
// /healthz, /readyz, the checkpoint history at /api/v1/checkpoints,
// savepoints at /api/v1/savepoints (bearer token, rate limit), source
// progress at /api/v1/sources and the dashboard at /.
package httpapi
