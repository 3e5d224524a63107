// Package restart decides what happens after the job fails: Classify tells
// a transient failure (retried) from a permanent one (the processor stops),
// and Strategy spaces the retries with an exponential delay, capped, with
// jitter, reset after healthy running, and optionally bounded by a failure
// rate.
package restart
