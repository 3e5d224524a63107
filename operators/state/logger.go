package state

import (
	"fmt"

	"go.uber.org/zap"
)

// pebbleLogger adapts a zap logger to pebble.Logger, so that Pebble logs
// where the process logs instead of to stderr. Pebble's informational
// messages (WALs found on open and the like) are routine for an embedded
// engine and go to the debug level.
type pebbleLogger struct{ l *zap.SugaredLogger }

func (p pebbleLogger) Infof(format string, args ...any)  { p.l.Debugf(format, args...) }
func (p pebbleLogger) Errorf(format string, args ...any) { p.l.Errorf(format, args...) }

// Fatalf logs and panics: Pebble calls it on broken invariants (corruption)
// and must not continue, but a library has no business calling os.Exit.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic("state: pebble: " + msg)
}
