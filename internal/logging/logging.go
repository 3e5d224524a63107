package logging

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tidemark/tidemark/internal/config"
)

// New returns a logger writing to out at the configured level. Format
// "auto" picks console output when out is a terminal and JSON otherwise.
func New(c config.Log, out *os.File) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	format := c.Format
	if format == "auto" || format == "" {
		format = "json"
		if IsTerminal(out) {
			format = "console"
		}
	}
	var enc zapcore.Encoder
	switch format {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey = "ts"
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		// Durations with their unit ("1.5s", "250ms"), as on the
		// console, not a bare number of seconds.
		ec.EncodeDuration = zapcore.StringDurationEncoder
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		ec.EncodeDuration = zapcore.StringDurationEncoder
		if IsTerminal(out) {
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("log.format: unknown format %q", c.Format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(out), level)
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(out))), nil
}

// IsTerminal reports whether f is a character device such as a terminal.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
