package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// TestDocsOperators: `docs operators` prints the reference the specs
// generate (plugin.Environment.OperatorDocs: what the README's markers
// hold, checked by operators/builtin's TestReadmeOperatorReference), with
// the operators of the environment Run is given.
func TestDocsOperators(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"docs", "operators"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if want := plugin.Default().OperatorDocs(); out.String() != want {
		t.Errorf("docs operators printed\n%s\nwant\n%s", out.String(), want)
	}
	for _, want := range []string{"### `count`\n", "### `key_by`\n", "### `passthrough`\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("docs operators lacks %q", want)
		}
	}

	// A program's own operator is documented beside the built-ins.
	env := plugin.Default().Clone()
	spec := plugin.NewConfigSpec().Summary("Does nothing, for the docs test.").
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Example("Nothing", "type: nothing_at_all")
	if err := env.RegisterOperator("nothing_at_all", spec, func(*plugin.ParsedConfig, *plugin.Resources) (operators.Operator, error) {
		return &operators.Base{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := Run(context.Background(), env, []string{"docs", "operators"}, &out, &errOut); code != exitOK {
		t.Fatalf("custom environment: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "### `nothing_at_all`\n\nDoes nothing, for the docs test.\n") || !strings.Contains(out.String(), "### `count`\n") {
		t.Errorf("custom environment: docs operators printed\n%s", out.String())
	}
	if strings.Contains(plugin.Default().OperatorDocs(), "nothing_at_all") {
		t.Error("registering in a clone changed plugin.Default()")
	}
}

// TestDocsOperatorsUpdate: --update rewrites the text between the markers
// of a file and nothing else; a file without markers is refused, unchanged.
func TestDocsOperatorsUpdate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "README.md")
	doc := "# My processor\n\n" + plugin.DocsBegin + "\nstale\n" + plugin.DocsEnd + "\n\nMore.\n"
	if err := os.WriteFile(path, []byte(doc), 0o640); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"docs", "operators", "--update", path}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# My processor\n\n" + plugin.DocsBegin + "\n\n" + plugin.Default().OperatorDocs() + "\n" + plugin.DocsEnd + "\n\nMore.\n"
	if string(got) != want {
		t.Errorf("updated file:\n%s\nwant\n%s", got, want)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("mode after update: %v, %v; want 0640 kept", info.Mode(), err)
	}
	if !strings.Contains(out.String(), path+": operator reference of ") {
		t.Errorf("printed %q", out.String())
	}

	plain := filepath.Join(dir, "plain.md")
	if err := os.WriteFile(plain, []byte("no markers\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"docs", "operators", "--update", plain}, &out, &errOut); code != exitFailed || !strings.Contains(errOut.String(), "markers") {
		t.Errorf("file without markers: exit %d, %q", code, errOut.String())
	}
	if b, _ := os.ReadFile(plain); string(b) != "no markers\n" {
		t.Errorf("file without markers changed to %q", b)
	}
}
