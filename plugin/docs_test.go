package plugin_test

import (
	"strings"
	"testing"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/plugin"
)

func TestMarkdown(t *testing.T) {
	spec := plugin.NewConfigSpec().
		Summary("Counts per window.").
		Description("Longer | text.").
		Field(plugin.NewExprMapField("group_by", expression.RecordContext).Description("The key.").Fingerprint()).
		Field(plugin.NewObjectField("window",
			plugin.NewStringEnumField("type", "tumbling", "hopping").Description("Kind."),
			plugin.NewDurationField("size").Example("10s")).Optional()).
		Field(plugin.NewObjectListField("order_by", plugin.NewBoolField("desc").Default(false)).Default([]any{})).
		Field(plugin.NewObjectMapField("aggregates", plugin.NewExprField("expr", expression.JoinContext).Optional())).
		Field(plugin.NewStringListField("drop").Default([]string{"a", "b"}).Advanced()).
		Keyed("group_by").
		Outputs("late").
		Example("Count bids", "type: agg\nfrom: bids\ngroup_by: {auction: value.auction}\naggregates: {}")
	want := "### `agg`\n\n" +
		"Counts per window.\n\n" +
		"Longer | text.\n\n" +
		"* Inputs: one.\n" +
		"* State: keyed, by `group_by`.\n" +
		"* Side outputs: `late` (read with `from: <name>.<output>`).\n\n" +
		"| key | type | default | meaning |\n|---|---|---|---|\n" +
		"| `group_by` | map of name → expression | required | The key. Part of the job's topology: a checkpoint restores only into the same value. |\n" +
		"| `window` | object | none |  |\n" +
		"| `window.type` | one of `tumbling`, `hopping` | required | Kind. |\n" +
		"| `window.size` | duration | required | Example: `10s`. |\n" +
		"| `order_by` | list of objects | `[]` |  |\n" +
		"| `order_by[].desc` | bool | `false` |  |\n" +
		"| `aggregates` | map of name → object | required |  |\n" +
		"| `aggregates.<name>.expr` | expression (with `left`, `right`) | none |  |\n" +
		"| `drop` | list of strings | `[a, b]` | Advanced. |\n\n" +
		"Count bids:\n\n```yaml\ntype: agg\nfrom: bids\ngroup_by: {auction: value.auction}\naggregates: {}\n```\n"
	if got := spec.Markdown("agg"); got != want {
		t.Errorf("Markdown:\n%s\nwant:\n%s", got, want)
	}
	env := plugin.NewEnvironment()
	if err := env.RegisterOperator("agg", spec, passthrough); err != nil {
		t.Fatal(err)
	}
	if err := env.RegisterOperator("count", plugin.NewConfigSpec().Keyed().Summary("Counts."), passthrough); err != nil {
		t.Fatal(err)
	}
	docs := env.OperatorDocs()
	if !strings.HasPrefix(docs, want+"\n### `count`\n\nCounts.\n\n* Inputs: one.\n* State: keyed, by the record key.\n") {
		t.Errorf("OperatorDocs:\n%s", docs)
	}
	doc := []byte("# T\n\nintro\n\n" + plugin.DocsBegin + "\nold\n" + plugin.DocsEnd + "\n\nafter\n")
	out, err := env.UpdateOperatorDocs(doc)
	if err != nil {
		t.Fatal(err)
	}
	if want := "# T\n\nintro\n\n" + plugin.DocsBegin + "\n\n" + docs + "\n" + plugin.DocsEnd + "\n\nafter\n"; string(out) != want {
		t.Errorf("UpdateOperatorDocs:\n%s", out)
	}
	again, err := env.UpdateOperatorDocs(out)
	if err != nil || string(again) != string(out) {
		t.Errorf("UpdateOperatorDocs is not idempotent: %v", err)
	}
	if _, err := env.UpdateOperatorDocs([]byte(plugin.DocsEnd + plugin.DocsBegin)); err == nil {
		t.Error("markers out of order accepted")
	}
}
