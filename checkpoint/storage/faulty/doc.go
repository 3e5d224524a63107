// Package faulty wraps a storage.Store to inject errors, latency, crashes
// mid-upload and truncated downloads into tests, and counts the calls it
// sees.
//
// Faults are rules (see Rule): which operations, which keys, when (the nth
// matching call, every call, from the nth on, with a probability from a
// seeded source) and with what effect (fail before the inner store is
// reached, fail after it did its work, or break the data stream part-way).
// Every injected error wraps ErrInjected.
package faulty
