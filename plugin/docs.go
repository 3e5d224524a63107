package plugin

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The markers around the generated operator reference in a Markdown file
// (the README): UpdateOperatorDocs replaces what is between them.
const (
	DocsBegin = "<!-- BEGIN OPERATORS: generated from the operators' specs (plugin.UpdateOperatorDocs); do not edit -->"
	DocsEnd   = "<!-- END OPERATORS -->"
)

// OperatorDocs returns the Markdown reference of every operator type of
// the environment, in name order (what `processor docs operators`
// prints).
func (e *Environment) OperatorDocs() string {
	var b strings.Builder
	e.WalkOperators(func(name string, spec *ConfigSpec) {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(spec.Markdown(name))
	})
	return b.String()
}

// UpdateOperatorDocs returns doc with the text between DocsBegin and
// DocsEnd replaced by OperatorDocs; an error if doc lacks the markers.
func (e *Environment) UpdateOperatorDocs(doc []byte) ([]byte, error) {
	i := bytes.Index(doc, []byte(DocsBegin))
	j := bytes.Index(doc, []byte(DocsEnd))
	if i < 0 || j < i {
		return nil, fmt.Errorf("plugin: no %q … %q markers, in this order, to put the operator reference between", DocsBegin, DocsEnd)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(DocsBegin)])
	out.WriteString("\n\n")
	out.WriteString(e.OperatorDocs())
	out.WriteString("\n")
	out.Write(doc[j:])
	return out.Bytes(), nil
}

// Markdown returns the reference of the operator type name: a "###"
// heading, the summary and description, its inputs, state and side
// outputs, a table of its fields and its examples.
func (s *ConfigSpec) Markdown(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### `%s`\n\n", name)
	if s.summary != "" {
		b.WriteString(strings.TrimSpace(s.summary) + "\n\n")
	}
	if s.description != "" {
		b.WriteString(strings.TrimSpace(s.description) + "\n\n")
	}
	switch s.inputs {
	case AnyInputs:
		b.WriteString("* Inputs: one or more (`from: [a, b, …]`).\n")
	case 1:
		b.WriteString("* Inputs: one.\n")
	case 2:
		b.WriteString("* Inputs: two (`from: [left, right]`, in this order).\n")
	default:
		fmt.Fprintf(&b, "* Inputs: %d.\n", s.inputs)
	}
	switch {
	case !s.keyed:
		b.WriteString("* State: none.\n")
	case len(s.keyFields) == 0:
		b.WriteString("* State: keyed, by the record key.\n")
	default:
		fmt.Fprintf(&b, "* State: keyed, by `%s`.\n", strings.Join(s.keyFields, "` / `"))
	}
	if len(s.outputs) > 0 {
		fmt.Fprintf(&b, "* Side outputs: `%s` (read with `from: <name>.<output>`).\n", strings.Join(s.outputs, "`, `"))
	}
	b.WriteString("\n")
	if len(s.fields) > 0 {
		b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
		writeFields(&b, s.fields, "")
		b.WriteString("\n")
	}
	for _, ex := range s.examples {
		fmt.Fprintf(&b, "%s:\n\n```yaml\n%s\n```\n\n", strings.TrimSpace(ex.Title), strings.TrimSpace(ex.Config))
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func writeFields(b *strings.Builder, fields []*ConfigField, prefix string) {
	for _, f := range fields {
		key := prefix + f.name
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", key, cell(f.typeName()), defaultCell(f), cell(meaning(f)))
		switch f.kind {
		case kindObject:
			writeFields(b, f.children, key+".")
		case kindObjectList:
			writeFields(b, f.children, key+"[].")
		case kindObjectMap:
			writeFields(b, f.children, key+".<name>.")
		}
	}
}

func defaultCell(f *ConfigField) string {
	switch {
	case f.hasDefault:
		return "`" + cell(flowYAML(f.def)) + "`"
	case f.optional:
		return "none"
	case f.kind == kindObject:
		return "see its keys"
	}
	return "required"
}

func meaning(f *ConfigField) string {
	var parts []string
	if f.advanced {
		parts = append(parts, "Advanced.")
	}
	if d := strings.TrimSpace(f.description); d != "" {
		parts = append(parts, d)
	}
	for _, ex := range f.examples {
		parts = append(parts, "Example: `"+flowYAML(ex)+"`.")
	}
	if f.fingerprint {
		parts = append(parts, "Part of the job's topology: a checkpoint restores only into the same value.")
	}
	return strings.Join(parts, " ")
}

// flowYAML renders v as one line of flow-style YAML.
func flowYAML(v any) string {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	setFlow(&n)
	out, err := yaml.Marshal(&n)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(out))
}

func setFlow(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style |= yaml.FlowStyle
	}
	for _, c := range n.Content {
		setFlow(c)
	}
}

// cell makes s fit in a table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
