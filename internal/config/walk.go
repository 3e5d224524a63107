package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/internal/yamlutil"
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	nodeType     = reflect.TypeFor[yaml.Node]()
)

// walker checks a configuration's YAML tree against the Config type before
// it is decoded: unknown keys, duplicate keys and values of the wrong type
// become problems naming the key and its line, and are cut out of the tree,
// so that decoding what is left cannot fail half-way.
type walker struct {
	// lines records the line of every key seen, by dotted path.
	lines map[string]int
	// refs are the scalars that were exactly one ${VAR} reference.
	refs map[*yaml.Node]bool
	// nodes records the value node of every key seen.
	nodes map[string]*yaml.Node
	ps    problems
}

// check checks n against t at path. It reports a value that cannot become
// a t and returns false; the caller then drops n.
func (w *walker) check(n *yaml.Node, t reflect.Type, path string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if w.nodes != nil {
		w.nodes[path] = n
	}
	if t == nodeType {
		return true // kept as it is: an operator entry, parsed with its spec
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return true // an empty value: the default stays
	}
	switch {
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.ps.add(path, n.Line, "%s, got %s", yamlutil.MustBeMapping, kindName(n))
			return false
		}
		w.entries(n, t.Elem(), path)
		return true
	case t.Kind() == reflect.Struct && t != durationType:
		if n.Kind != yaml.MappingNode {
			w.ps.add(path, n.Line, "%s, got %s", yamlutil.MustBeMapping, kindName(n))
			return false
		}
		w.mapping(n, t, path)
		return true
	case t.Kind() == reflect.Slice:
		return w.list(n, t, path)
	}
	if n.Kind != yaml.ScalarNode {
		w.ps.add(path, n.Line, "%s, got %s", expectation(t), kindName(n))
		return false
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		w.ps.add(path, n.Line, "%s, got %s", expectation(t), kindName(n))
		return false
	}
	return true
}

// mapping checks the keys of n, a section decoded into struct type t.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	fields := yamlFields(t)
	seen := map[string]int{}
	kept := make([]*yaml.Node, 0, len(n.Content))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.ps.add(key, k.Line, "%s", yamlutil.DuplicateKey(first))
			continue
		}
		seen[k.Value] = k.Line
		w.lines[key] = k.Line
		ft, ok := fields[k.Value]
		if !ok {
			w.ps.add(key, k.Line, "%s", yamlutil.UnknownKey(k.Value, keyNames(fields)))
			continue
		}
		if w.check(v, ft, key) {
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
}

// entries checks the values of n, a mapping decoded into a map whose
// values are of type t.
func (w *walker) entries(n *yaml.Node, t reflect.Type, path string) {
	seen := map[string]int{}
	kept := make([]*yaml.Node, 0, len(n.Content))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.ps.add(key, k.Line, "%s", yamlutil.DuplicateKey(first))
			continue
		}
		seen[k.Value] = k.Line
		w.lines[key] = k.Line
		if w.check(v, t, key) {
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
}

// list checks n, a list decoded into slice type t. A list of strings takes
// each item that was exactly one ${VAR} reference as a comma-separated list
// of items ("${KAFKA_BROKERS}" with KAFKA_BROKERS=a:9092,b:9092 is two
// brokers), and so does a single such reference where the list is expected.
func (w *walker) list(n *yaml.Node, t reflect.Type, path string) bool {
	strs := t.Elem().Kind() == reflect.String
	if strs && n.Kind == yaml.ScalarNode && w.refs[n] {
		item := *n
		w.refs[&item] = true
		*n = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: n.Line, Column: n.Column, Content: []*yaml.Node{&item}}
	}
	if n.Kind != yaml.SequenceNode {
		w.ps.add(path, n.Line, "%s, got %s", yamlutil.MustBeList, kindName(n))
		return false
	}
	var items []*yaml.Node
	for _, c := range n.Content {
		if !strs || c.Kind != yaml.ScalarNode || !w.refs[c] {
			items = append(items, c)
			continue
		}
		for part := range strings.SplitSeq(c.Value, ",") {
			if part = strings.TrimSpace(part); part != "" {
				items = append(items, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: part, Line: c.Line, Column: c.Column})
			}
		}
	}
	kept := items[:0]
	for i, c := range items {
		key := fmt.Sprintf("%s[%d]", path, i)
		w.lines[key] = c.Line
		if w.check(c, t.Elem(), key) {
			kept = append(kept, c)
		}
	}
	n.Content = kept
	return true
}

// expectation says what a value of type t must look like.
func expectation(t reflect.Type) string {
	switch {
	case t == durationType:
		return yamlutil.MustBeDuration
	case t.Kind() == reflect.Bool:
		return yamlutil.MustBeBool
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return yamlutil.MustBeInt
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return yamlutil.MustBeFloat
	case t.Kind() == reflect.String:
		return yamlutil.MustBeString
	}
	return "must be a " + t.String()
}
