// Package logging builds the process's zap logger from the log section of
// the configuration: JSON for containers, console on a terminal.
package logging
