// Package benchfmt prints the benchmark programs' results: aligned text or
// Markdown tables, and nearest-rank percentiles.
package benchfmt
