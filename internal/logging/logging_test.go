package logging_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/logging"
)

func logTo(t *testing.T, c config.Log, msg string) string {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log, err := logging.New(c, f)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	log.Info(msg)
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestAutoIsJSONOffTerminal(t *testing.T) {
	out := logTo(t, config.Log{Level: "info", Format: "auto"}, "hello")
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rec); err != nil {
		t.Fatalf("not one JSON line: %q: %v", out, err)
	}
	if rec["msg"] != "hello" || rec["level"] != "info" {
		t.Errorf("record = %v", rec)
	}
}

func TestConsoleFormat(t *testing.T) {
	out := logTo(t, config.Log{Level: "debug", Format: "console"}, "hello")
	if !strings.Contains(out, "hidden") || !strings.Contains(out, "INFO\thello") {
		t.Errorf("console output = %q", out)
	}
}

func TestBadLevel(t *testing.T) {
	if _, err := logging.New(config.Log{Level: "loud", Format: "json"}, os.Stderr); err == nil {
		t.Fatal("want error")
	}
}

// Durations carry their unit in both formats: "1.5s", not 1.5 or
// 1500000000.
func TestDurationsHaveUnits(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		f, err := os.Create(filepath.Join(t.TempDir(), "log"))
		if err != nil {
			t.Fatal(err)
		}
		log, err := logging.New(config.Log{Level: "info", Format: format}, f)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("checkpoint complete", zap.Duration("duration", 1500*time.Millisecond), zap.Duration("sync", 250*time.Microsecond))
		f.Close()
		data, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		out := string(data)
		if format == "json" {
			var rec map[string]any
			if err := json.Unmarshal(data, &rec); err != nil {
				t.Fatalf("json: %q: %v", out, err)
			}
			if rec["duration"] != "1.5s" || rec["sync"] != "250µs" {
				t.Errorf("json durations: duration=%v sync=%v, want \"1.5s\" and \"250µs\" (%s)", rec["duration"], rec["sync"], out)
			}
			continue
		}
		if !strings.Contains(out, `"duration": "1.5s"`) || !strings.Contains(out, `"sync": "250µs"`) {
			t.Errorf("console durations: %s", out)
		}
	}
}
