package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const graphConfig = `job: {name: g}
kafka: {brokers: ["localhost:9092"]}
checkpoint: {storage: "file:///tmp/chk"}
sources:
  - {name: clicks, topics: [clicks], key: value.user}
operators:
  - {name: per-user, type: count, from: clicks}
  - {name: unread, type: passthrough, from: clicks}
sinks:
  - {name: out, from: per-user, topic: counts}
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestValidateGraph: validate plans a graph-form job and prints the plan
// (and warnings); its problems name the operator, the key, the line and
// an expression's column.
func TestValidateGraph(t *testing.T) {
	var out, errOut bytes.Buffer
	path := writeConfig(t, graphConfig)
	if code := run(context.Background(), []string{"validate", "--config", path}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		`valid (job "g", exactly_once, 1 sources, 2 operators, 1 sinks, dead letters to counts-dead-letters)`,
		"stage per-user (keyed, 2 tasks, stateful, sink)\n  per-user count append ← clicks hash(key)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if want := `warning: line 8: operators[1] (unread): nothing reads the output of operator "unread"`; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr lacks %q: %s", want, errOut.String())
	}

	bad := strings.Replace(graphConfig, "from: per-user, topic: counts}", "from: per-usr, topic: counts, value: 'value +'}", 1)
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"validate", "--config", writeConfig(t, bad)}, &out, &errOut); code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	for _, want := range []string{
		"2 problems:",
		`line 10: sinks[0] (out).from: no source or operator is named "per-usr" (did you mean "per-user"?)`,
		`line 10: sinks[0] (out).value: column 61: unexpected token EOF`,
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}

// TestMigrateCommand: migrate prints a single-chain example in the graph
// form, which validates; a graph-form file is refused.
func TestMigrateCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "--config", "../configs/quickstart.yaml"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "sources:\n  - name: source\n") || strings.Contains(out.String(), "pipeline:") {
		t.Errorf("migrated:\n%s", out.String())
	}
	migrated := writeConfig(t, out.String())
	out.Reset()
	if code := run(context.Background(), []string{"validate", "--config", migrated}, &out, &errOut); code != exitOK {
		t.Fatalf("the migrated quickstart does not validate: exit %d: %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"migrate", "--config", writeConfig(t, graphConfig)}, &out, &errOut); code != exitFailed ||
		!strings.Contains(errOut.String(), "not of the single-chain form") {
		t.Errorf("migrating a graph: exit %d: %s", code, errOut.String())
	}
}

// TestRunRefusesWhatValidateRefuses: run plans the job first: a graph
// that does not plan is refused before anything starts.
func TestRunRefusesWhatValidateRefuses(t *testing.T) {
	var out, errOut bytes.Buffer
	bad := strings.Replace(graphConfig, "from: per-user, topic", "from: nobody, topic", 1)
	if code := run(context.Background(), []string{"run", "--config", writeConfig(t, bad)}, &out, &errOut); code != exitFailed ||
		!strings.Contains(errOut.String(), `no source or operator is named "nobody"`) {
		t.Errorf("run of a bad graph: exit %d: %s", code, errOut.String())
	}
}
