package deploy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestProductionVariablesDocumented: every ${VAR:-default} that
// configs/production.yaml reads is a row of docs/deployment.md's table
// with the same default.
func TestProductionVariablesDocumented(t *testing.T) {
	cfg, err := os.ReadFile("../configs/production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string // the configuration without its comment lines
	for _, l := range strings.Split(string(cfg), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			lines = append(lines, l)
		}
	}
	refs := regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)(:-([^}]*))?\}`).FindAllStringSubmatch(strings.Join(lines, "\n"), -1)
	if len(refs) == 0 {
		t.Fatal("configs/production.yaml reads no variables")
	}
	for _, m := range refs {
		name, def := m[1], m[3]
		if def == "" {
			t.Errorf("${%s} has no default in configs/production.yaml", name)
			continue
		}
		if row := "| `" + name + "` | `" + def + "` |"; !strings.Contains(string(doc), row) {
			t.Errorf("docs/deployment.md has no row %q", row)
		}
	}
}
