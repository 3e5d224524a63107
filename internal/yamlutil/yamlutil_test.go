package yamlutil

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSuggest(t *testing.T) {
	known := []string{"name", "parallelism", "max_parallelism", "type"}
	for key, want := range map[string]string{
		"nmae":         "name",
		"parallelsim":  "parallelism",
		"typ":          "type",
		"zzzzzzzzzzzz": "",
		"":             "",
	} {
		if got := Suggest(key, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", key, got, want)
		}
	}
	if got := UnknownKey("nmae", known); got != `unknown key (did you mean "name"?)` {
		t.Errorf("UnknownKey = %q", got)
	}
	if got := UnknownKey("qqqqqq", known); got != "unknown key" {
		t.Errorf("UnknownKey = %q", got)
	}
}

func TestKindName(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: [1]\nb: {c: 1}\nd: 'x y'\n"), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Content[0]
	for i, want := range map[int]string{1: "a list", 3: "a mapping", 5: `"x y"`} {
		if got := KindName(m.Content[i]); got != want {
			t.Errorf("KindName(%d) = %q, want %q", i, got, want)
		}
	}
	if got := KindName(&doc); got != "a document" {
		t.Errorf("KindName(doc) = %q", got)
	}
	if got := QuoteList("a", "b"); got != `"a", "b"` {
		t.Errorf("QuoteList = %q", got)
	}
}
