// Package operators holds the operator contract, the task runtime that runs
// operator chains and aligns barriers, keyed state and the built-in
// operators. The checkpoint engine fills it in; until then the pipeline is
// a passthrough (see internal/runner).
package operators
