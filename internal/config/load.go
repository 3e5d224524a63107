package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/internal/yamlutil"
)

// Load reads, decodes and validates the configuration file at path.
// See Parse.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse decodes a YAML configuration over the defaults and validates it.
// ${VAR} and ${VAR:-default} in values are replaced from lookup ($$ is a
// literal $); a list item that is exactly one such reference is split at
// commas into several items. Every problem is reported in one *Error whose
// problems name each key and, where known, its line. Problems with the
// file's structure (unknown keys, duplicate keys, values of the wrong type)
// are reported alone: Validate does not run then, since the values they
// would have set are missing and it would report problems that are not
// there. name labels errors.
func Parse(name string, data []byte, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return cfg, &Error{File: name, Problems: []Problem{{Msg: yamlMsg(err)}}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	var ps problems
	lines := map[string]int{}
	if root.Kind != 0 {
		if root.Kind != yaml.MappingNode {
			ps.add("", root.Line, "the configuration must be a mapping of sections, got %s", kindName(root))
			return cfg, ps.err(name)
		}
		refs := map[*yaml.Node]bool{}
		substitute(root, "", lookup, refs, &ps)
		nodes := map[string]*yaml.Node{}
		w := walker{lines: lines, refs: refs, nodes: nodes}
		w.check(root, reflect.TypeFor[Config](), "")
		if len(w.ps.list) > 0 {
			ps.list = append(ps.list, w.ps.list...)
			return cfg, ps.err(name)
		}
		cfg.lines, cfg.nodes = lines, nodes
		if err := root.Decode(&cfg); err != nil {
			// The walker found nothing wrong, so this is unexpected:
			// report it rather than validating half a configuration.
			ps.add("", 0, "%s", yamlMsg(err))
			return cfg, ps.err(name)
		}
	}
	if !cfg.IsGraph() {
		if _, ok := lines["output"]; ok {
			ps.add("output", lines["output"], "applies to the job graph form (sinks); in the single-chain form set sink.delivery, sink.transactional_id_prefix, sink.transaction_timeout and sink.on_rejected")
		}
		if _, ok := lines["dead_letter"]; ok {
			ps.add("dead_letter", lines["dead_letter"], "applies to the job graph form (sinks); in the single-chain form set sink.dead_letter_topic")
		}
	} else {
		for _, k := range []string{"source", "pipeline", "sink"} {
			if l, ok := lines[k]; ok && !cfg.hasLegacy() {
				ps.add(k, l, "belongs to the single-chain form, but this configuration uses the job graph form (sources, operators, sinks): "+
					"move its settings to sources[], operators[], sinks[] and output (see `processor migrate`)")
			}
		}
	}
	cfg.syncOutput()
	if err := cfg.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				if !ps.has(p.Key) { // e.g. an unset variable made it empty
					line := p.Line
					if line == 0 {
						line = lineOf(lines, p.Key)
					}
					ps.add(p.Key, line, "%s", p.Msg)
				}
			}
		}
	}
	return cfg, ps.err(name)
}

// lineOf finds the line of key, or of its nearest parent present in the file.
func lineOf(lines map[string]int, key string) int {
	key = entryName.ReplaceAllString(key, "") // "sources[0] (events).topics" is at sources[0].topics
	for key != "" {
		if l, ok := lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

func yamlMsg(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	return strings.ReplaceAll(msg, "\n  ", "; ")
}

// kindName describes what n holds, for messages.
func kindName(n *yaml.Node) string { return yamlutil.KindName(n) }

// entryName matches the name a problem's key gives a list entry.
var entryName = regexp.MustCompile(` \([^)]*\)`)

var envRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// wholeRef matches a value that is exactly one ${VAR} or ${VAR:-default}.
var wholeRef = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$`)

// substitute expands ${VAR} in every scalar value below n, and records in
// refs the scalars that were exactly one reference (their value may be a
// comma-separated list: see walker.list).
func substitute(n *yaml.Node, path string, lookup func(string) (string, bool), refs map[*yaml.Node]bool, ps *problems) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			substitute(n.Content[i+1], join(path, n.Content[i].Value), lookup, refs, ps)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			substitute(c, fmt.Sprintf("%s[%d]", path, i), lookup, refs, ps)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		if wholeRef.MatchString(n.Value) {
			refs[n] = true
		}
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			if ref == "$$" {
				return "$"
			}
			m := envRef.FindStringSubmatch(ref)
			if v, ok := lookup(m[1]); ok {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			ps.add(path, n.Line, "environment variable %s is not set", m[1])
			return ""
		})
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = "" // re-resolve: "${PORT}" may now be an int
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}

// keyNames returns the keys of fields.
func keyNames(fields map[string]reflect.Type) []string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	return names
}

// quoteList renders a set of allowed values for messages.
func quoteList(vals ...string) string { return yamlutil.QuoteList(vals...) }
