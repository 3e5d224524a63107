package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/cli"
	"github.com/tidemark/tidemark/plugin"
)

// TestDocsOperatorsIsTheReadme: `processor docs operators`, with the
// operators this binary registers (its imports are this test's), prints
// exactly the reference between the README's markers. The README itself
// is checked against the specs by operators/builtin's
// TestReadmeOperatorReference (whose -update regenerates it); this test
// catches an operator registered in the binary but not there, or the
// reverse.
func TestDocsOperatorsIsTheReadme(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), plugin.Default(), []string{"docs", "operators"}, &out, &errOut); code != 0 {
		t.Fatalf("docs operators: exit %d: %s", code, errOut.String())
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := plugin.DocsBegin + "\n\n" + out.String() + "\n" + plugin.DocsEnd; !strings.Contains(string(readme), want) {
		t.Errorf("README.md's operator reference is not what `processor docs operators` prints:\n%s\n"+
			"register the binary's operators where operators/builtin's README test sees them, then run\n"+
			"  go test ./operators/builtin -run TestReadmeOperatorReference -update", out.String())
	}
}
