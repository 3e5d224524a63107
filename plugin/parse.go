package plugin

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/internal/yamlutil"
)

// Parse checks an operator entry (a YAML mapping: the common keys and the
// type's fields) against the spec and returns it parsed: defaults
// applied, expressions compiled. path prefixes every problem's key, and
// should name the entry as the user finds it ("operators[3] (counts)");
// a field's key is path.field.
//
// Every problem is reported, at once, with its line: a key the spec does
// not know (with a did-you-mean), a key given twice, a value of the
// wrong type, a required field missing, an expression that does not
// compile (at its line and column in the file), a from list whose length
// does not fit Inputs, and the errors of the spec's Checks (which run
// only when every field parsed). With problems, the returned config is
// nil.
//
// The common keys are read but not judged: name and type as strings,
// from as one name or a list of names (ParsedConfig.Name, Type, From);
// their rules (unique names, known types, existing inputs) are the job's.
func (s *ConfigSpec) Parse(node *yaml.Node, path string) (*ParsedConfig, []Problem) {
	p := parser{lines: map[string]int{}}
	n := resolve(node)
	if n != nil && n.Kind != yaml.MappingNode && !isNull(n) {
		p.add(path, n.Line, "an operator must be a mapping of its keys (name, type, from and its own), got %s", yamlutil.KindName(n))
		return nil, p.problems
	}
	if isNull(n) {
		n = nil
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	conf := p.object(s.fields, n, path, line, s)
	if len(p.problems) > 0 {
		return nil, p.sorted()
	}
	for _, check := range s.checks {
		err := check(conf)
		if err == nil {
			continue
		}
		var fe *FieldError
		if errors.As(err, &fe) {
			key := join(path, fe.Field)
			p.add(key, p.lineOf(key, line), "%s", fe.Msg)
		} else {
			p.add(path, line, "%s", err.Error())
		}
	}
	if len(p.problems) > 0 {
		return nil, p.sorted()
	}
	return conf, nil
}

// sorted returns the problems in the order of their lines (those without
// a line last), in the order found within a line.
func (p *parser) sorted() []Problem {
	slices.SortStableFunc(p.problems, func(a, b Problem) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = math.MaxInt
		}
		if lb == 0 {
			lb = math.MaxInt
		}
		return cmp.Compare(la, lb)
	})
	return p.problems
}

// parser gathers the problems of one Parse.
type parser struct {
	problems []Problem
	// lines holds the line of every key seen.
	lines map[string]int
}

func (p *parser) add(key string, line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{Key: key, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// lineOf finds the line of key, or of its nearest parent seen; def if none.
func (p *parser) lineOf(key string, def int) int {
	for key != "" {
		if l, ok := p.lines[key]; ok {
			return l
		}
		i := max(lastIndex(key, '.'), lastIndex(key, '['))
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return def
}

func lastIndex(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// object parses the mapping n (nil: absent, no keys) against fields; key
// is its path, line its line (or its parent's). top is the spec when n is
// an operator entry, whose common keys it reads.
func (p *parser) object(fields []*ConfigField, n *yaml.Node, key string, line int, top *ConfigSpec) *ParsedConfig {
	conf := &ParsedConfig{spec: top, fields: fields, vals: map[string]any{}, key: key, line: line}
	given := map[string]*yaml.Node{}
	if n != nil {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], resolve(n.Content[i+1])
			fkey := join(key, k.Value)
			if first, dup := seen[k.Value]; dup {
				p.add(fkey, k.Line, "%s", yamlutil.DuplicateKey(first))
				continue
			}
			seen[k.Value] = k.Line
			p.lines[fkey] = k.Line
			if top != nil && slices.Contains(CommonKeys, k.Value) {
				p.common(conf, k.Value, v, fkey)
				continue
			}
			if findField(fields, k.Value) == nil {
				known := make([]string, 0, len(fields)+len(CommonKeys))
				for _, f := range fields {
					known = append(known, f.name)
				}
				if top != nil {
					known = append(known, CommonKeys...)
				}
				p.add(fkey, k.Line, "%s", yamlutil.UnknownKey(k.Value, known))
				continue
			}
			if !isNull(v) {
				given[k.Value] = v
			}
		}
	}
	for _, f := range fields {
		fkey := join(key, f.name)
		v, ok := given[f.name]
		if !ok {
			if val, set := p.absent(f, fkey, line); set {
				conf.vals[f.name] = val
			}
			continue
		}
		if val, ok := p.value(f, v, fkey, line); ok {
			conf.vals[f.name] = val
		}
	}
	if top != nil && conf.hasFrom {
		p.checkInputs(top, conf, key, line)
	}
	return conf
}

// absent gives the value of an absent field: its default, an object of
// defaults, or nothing (optional; a problem if required).
func (p *parser) absent(f *ConfigField, key string, line int) (any, bool) {
	switch {
	case f.hasDefault:
		var n yaml.Node
		if err := n.Encode(f.def); err != nil { // checked at registration
			p.add(key, line, "default: %v", err)
			return nil, false
		}
		return p.value(f, &n, key, line)
	case f.optional:
		return nil, false
	case f.kind == kindObject:
		return p.object(f.children, nil, key, line, nil), true
	}
	p.add(key, line, "is required")
	return nil, false
}

// common reads a common key of an operator entry.
func (p *parser) common(conf *ParsedConfig, name string, v *yaml.Node, key string) {
	switch name {
	case "name", "type":
		if v.Kind != yaml.ScalarNode || isNull(v) {
			p.add(key, v.Line, "%s, got %s", yamlutil.MustBeString, yamlutil.KindName(v))
			return
		}
		if name == "name" {
			conf.name = v.Value
		} else {
			conf.typ = v.Value
		}
	case "from":
		switch {
		case v.Kind == yaml.ScalarNode && !isNull(v):
			conf.from, conf.hasFrom = []string{v.Value}, true
		case v.Kind == yaml.SequenceNode:
			conf.from, conf.hasFrom = []string{}, true
			for i, c := range v.Content {
				c = resolve(c)
				if c.Kind != yaml.ScalarNode || isNull(c) {
					p.add(fmt.Sprintf("%s[%d]", key, i), c.Line, "must be the name of a source, an operator or a side output (op.port), got %s", yamlutil.KindName(c))
					continue
				}
				conf.from = append(conf.from, c.Value)
			}
		default:
			p.add(key, v.Line, "must be an input's name, or a list of them, got %s", yamlutil.KindName(v))
		}
	}
}

// checkInputs checks the number of inputs from names against the spec.
func (p *parser) checkInputs(s *ConfigSpec, conf *ParsedConfig, key string, line int) {
	n := len(conf.from)
	fkey := join(key, "from")
	fline := p.lineOf(fkey, line)
	switch {
	case s.inputs == AnyInputs && n == 0:
		p.add(fkey, fline, "needs at least one input")
	case s.inputs == 1 && n != 1:
		p.add(fkey, fline, "takes one input, got %d (merge streams with a union)", n)
	case s.inputs > 1 && n != s.inputs:
		p.add(fkey, fline, "takes %d inputs ([left, right] for two), got %d", s.inputs, n)
	}
}

// value parses n, given and not null, as a value of f.
func (p *parser) value(f *ConfigField, n *yaml.Node, key string, line int) (any, bool) {
	n = resolve(n)
	scalar := func(want string) bool {
		if n.Kind != yaml.ScalarNode {
			p.add(key, n.Line, "%s, got %s", want, yamlutil.KindName(n))
			return false
		}
		return true
	}
	switch f.kind {
	case kindString:
		if !scalar(yamlutil.MustBeString) {
			return nil, false
		}
		return n.Value, true
	case kindInt:
		var v int64
		if !scalar(yamlutil.MustBeInt) {
			return nil, false
		}
		if err := n.Decode(&v); err != nil {
			p.add(key, n.Line, "%s, got %s", yamlutil.MustBeInt, yamlutil.KindName(n))
			return nil, false
		}
		return v, true
	case kindFloat:
		var v float64
		if !scalar(yamlutil.MustBeFloat) {
			return nil, false
		}
		if err := n.Decode(&v); err != nil {
			p.add(key, n.Line, "%s, got %s", yamlutil.MustBeFloat, yamlutil.KindName(n))
			return nil, false
		}
		return v, true
	case kindBool:
		var v bool
		if !scalar(yamlutil.MustBeBool) {
			return nil, false
		}
		if err := n.Decode(&v); err != nil {
			p.add(key, n.Line, "%s, got %s", yamlutil.MustBeBool, yamlutil.KindName(n))
			return nil, false
		}
		return v, true
	case kindDuration:
		if !scalar(yamlutil.MustBeDuration) {
			return nil, false
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			p.add(key, n.Line, "%s, got %s", yamlutil.MustBeDuration, yamlutil.KindName(n))
			return nil, false
		}
		return d, true
	case kindEnum:
		if !scalar("must be one of " + yamlutil.QuoteList(f.options...)) {
			return nil, false
		}
		if !slices.Contains(f.options, n.Value) {
			msg := fmt.Sprintf("must be one of %s, got %q", yamlutil.QuoteList(f.options...), n.Value)
			if s := yamlutil.Suggest(n.Value, f.options); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.add(key, n.Line, "%s", msg)
			return nil, false
		}
		return n.Value, true
	case kindStringList:
		items, ok := p.list(n, key)
		if !ok {
			return nil, false
		}
		out := make([]string, 0, len(items))
		for i, c := range items {
			if c.Kind != yaml.ScalarNode || isNull(c) {
				p.add(fmt.Sprintf("%s[%d]", key, i), c.Line, "%s, got %s", yamlutil.MustBeString, yamlutil.KindName(c))
				continue
			}
			out = append(out, c.Value)
		}
		return out, len(out) == len(items)
	case kindStringMap:
		entries, ok := p.mapping(n, key)
		if !ok {
			return nil, false
		}
		out := make([]NamedString, 0, len(entries))
		for _, en := range entries {
			if en.v.Kind != yaml.ScalarNode || isNull(en.v) {
				p.add(join(key, en.k.Value), en.v.Line, "%s, got %s", yamlutil.MustBeString, yamlutil.KindName(en.v))
				continue
			}
			out = append(out, NamedString{Name: en.k.Value, Value: en.v.Value})
		}
		return out, len(out) == len(entries)
	case kindExpr:
		if !scalar("must be an expression (a single value; quote it if it holds special characters)") {
			return nil, false
		}
		return p.expr(f, n, key, line)
	case kindExprList:
		items := []*yaml.Node{n}
		if n.Kind == yaml.SequenceNode {
			items = n.Content
		} else if !scalar("must be an expression or a list of expressions") {
			return nil, false
		}
		out := make([]*Expr, 0, len(items))
		for i, c := range items {
			ikey := key
			if n.Kind == yaml.SequenceNode {
				ikey = fmt.Sprintf("%s[%d]", key, i)
			}
			if c = resolve(c); c.Kind != yaml.ScalarNode || isNull(c) {
				p.add(ikey, c.Line, "must be an expression, got %s", yamlutil.KindName(c))
				continue
			}
			if e, ok := p.expr(f, c, ikey, line); ok {
				out = append(out, e.(*Expr))
			}
		}
		return out, len(out) == len(items)
	case kindExprMap:
		entries, ok := p.mapping(n, key)
		if !ok {
			return nil, false
		}
		out := make([]NamedExpr, 0, len(entries))
		for _, en := range entries {
			ekey := join(key, en.k.Value)
			if en.v.Kind != yaml.ScalarNode || isNull(en.v) {
				p.add(ekey, en.v.Line, "must be an expression, got %s", yamlutil.KindName(en.v))
				continue
			}
			if e, ok := p.expr(f, en.v, ekey, line); ok {
				out = append(out, NamedExpr{Name: en.k.Value, Expr: e.(*Expr)})
			}
		}
		return out, len(out) == len(entries)
	case kindObject:
		if n.Kind != yaml.MappingNode {
			p.add(key, n.Line, "%s, got %s", yamlutil.MustBeMapping, yamlutil.KindName(n))
			return nil, false
		}
		return p.object(f.children, n, key, n.Line, nil), true
	case kindObjectList:
		items, ok := p.list(n, key)
		if !ok {
			return nil, false
		}
		out := make([]*ParsedConfig, 0, len(items))
		for i, c := range items {
			ikey := fmt.Sprintf("%s[%d]", key, i)
			if c.Kind != yaml.MappingNode {
				p.add(ikey, c.Line, "%s, got %s", yamlutil.MustBeMapping, yamlutil.KindName(c))
				continue
			}
			out = append(out, p.object(f.children, c, ikey, c.Line, nil))
		}
		return out, len(out) == len(items)
	case kindObjectMap:
		entries, ok := p.mapping(n, key)
		if !ok {
			return nil, false
		}
		out := make([]NamedConfig, 0, len(entries))
		for _, en := range entries {
			ekey := join(key, en.k.Value)
			if en.v.Kind != yaml.MappingNode {
				p.add(ekey, en.v.Line, "%s, got %s", yamlutil.MustBeMapping, yamlutil.KindName(en.v))
				continue
			}
			out = append(out, NamedConfig{Name: en.k.Value, Config: p.object(f.children, en.v, ekey, en.v.Line, nil)})
		}
		return out, len(out) == len(entries)
	}
	p.add(key, n.Line, "field of unknown kind %d", f.kind)
	return nil, false
}

func (p *parser) expr(f *ConfigField, n *yaml.Node, key string, line int) (any, bool) {
	e, err := newExpr(f, n, key, line)
	if err != nil {
		var ee *ExprError
		if errors.As(err, &ee) {
			p.problems = append(p.problems, ee.problem())
		} else {
			p.add(key, n.Line, "%v", err)
		}
		return nil, false
	}
	return e, true
}

// list returns the items of the sequence n.
func (p *parser) list(n *yaml.Node, key string) ([]*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		p.add(key, n.Line, "%s, got %s", yamlutil.MustBeList, yamlutil.KindName(n))
		return nil, false
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = resolve(c)
		p.lines[fmt.Sprintf("%s[%d]", key, i)] = items[i].Line
	}
	return items, true
}

type entry struct{ k, v *yaml.Node }

// mapping returns the entries of the mapping n in order, reporting
// duplicate names.
func (p *parser) mapping(n *yaml.Node, key string) ([]entry, bool) {
	if n.Kind != yaml.MappingNode {
		p.add(key, n.Line, "%s, got %s", yamlutil.MustBeMapping, yamlutil.KindName(n))
		return nil, false
	}
	seen := map[string]int{}
	var out []entry
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		ekey := join(key, k.Value)
		if first, dup := seen[k.Value]; dup {
			p.add(ekey, k.Line, "%s", yamlutil.DuplicateKey(first))
			ok = false
			continue
		}
		seen[k.Value] = k.Line
		p.lines[ekey] = k.Line
		out = append(out, entry{k, v})
	}
	return out, ok
}

// resolve follows a document to its content and an alias to its target.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch {
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		case n.Kind == yaml.AliasNode && n.Alias != nil:
			n = n.Alias
		default:
			return n
		}
	}
	return nil
}

// isNull reports whether n is absent, empty or null.
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || n.Kind == yaml.DocumentNode && len(n.Content) == 0 ||
		n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
