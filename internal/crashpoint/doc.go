// Package crashpoint lets tests crash the processor at a named step of its
// protocols (between writing a checkpoint's metadata and committing its
// transactions, say), the way a SIGKILL at exactly that moment would.
//
// Points are compiled in and cost one atomic load when disarmed. They are
// armed only through the TIDEMARK_CRASHPOINT environment variable, which the
// exactly-once schedule tests set; production runs never set it.
package crashpoint
