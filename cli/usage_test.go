package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBadUsageExitsTwo: the README's exit codes. Bad usage of every kind
// exits 2 with a pointer to --help; a command that runs and fails exits 1.
func TestBadUsageExitsTwo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"bogus"}, exitUsage, `unknown command "bogus"`},
		{[]string{"validate"}, exitUsage, `required flag(s) "config" not set`},
		{[]string{"run"}, exitUsage, `required flag(s) "config" not set`},
		{[]string{"validate", "--config", "x.yaml", "extra"}, exitUsage, `unknown command "extra"`},
		{[]string{"version", "extra"}, exitUsage, `unknown command "extra"`},
		{[]string{"validate", "--bogus"}, exitUsage, "unknown flag: --bogus"},
		{[]string{"savepoint", "--config", "x.yaml", "--timeout", "soon"}, exitUsage, `invalid argument "soon"`},
		{[]string{"validate", "--config", "/does/not/exist.yaml"}, exitFailed, "no such file"},
		{[]string{"docs"}, exitUsage, "name a subcommand: operators"},
		{[]string{"docs", "bogus"}, exitUsage, `unknown command "bogus"`},
		{[]string{"docs", "operators", "extra"}, exitUsage, `unknown command "extra"`},
		{[]string{"nexmark"}, exitUsage, "name a subcommand: generate"},
		{[]string{"docs", "operators", "--update", "/does/not/exist.md"}, exitFailed, "no such file"},
		{[]string{"version"}, exitOK, ""},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.msg) {
			t.Errorf("processor %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, errOut.String(), tc.code, tc.msg)
		}
		if hint := strings.Contains(errOut.String(), "--help' for usage"); hint != (tc.code == exitUsage) {
			t.Errorf("processor %s: pointer to --help is %v, want %v: %q", strings.Join(tc.args, " "), hint, tc.code == exitUsage, errOut.String())
		}
	}
}
