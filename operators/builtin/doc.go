// Package builtin holds Tidemark's built-in stateless operators (filter,
// map, flat_map, key_by, union, passthrough), the legacy running count
// per key, and a source of fixed records. Importing it registers every
// built-in operator type in plugin.Default() through its spec
// (register.go), the way a user's operator is registered, including the
// operator packages of their own (top_n from operators/rank, dedup from
// operators/dedup).
//
// Stateless operators evaluate their expressions (package expression)
// with one Env per operator instance, never change a record they
// receive (copy on write: the same value may travel down several
// branches), and send a record they cannot handle to the dead-letter
// output (OpenContext.Reject) with a reason naming the configuration key
// and the expression's position.
package builtin
