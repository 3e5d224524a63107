package plugin_test

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/plugin"
)

// node parses src, a YAML document.
func node(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return &doc
}

// parse parses src with spec and fails the test on problems.
func parse(t *testing.T, spec *plugin.ConfigSpec, src string) *plugin.ParsedConfig {
	t.Helper()
	conf, ps := spec.Parse(node(t, src), "op")
	if len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	if conf == nil {
		t.Fatal("no config and no problems")
	}
	return conf
}

// problems parses src with spec and returns its problems as strings.
func problems(t *testing.T, spec *plugin.ConfigSpec, src string) []string {
	t.Helper()
	conf, ps := spec.Parse(node(t, src), "op")
	if len(ps) > 0 && conf != nil {
		t.Errorf("a config despite problems %v", ps)
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
