package plugin

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/internal/yamlutil"
)

// Environment is a set of operator types: names mapped to specs and
// constructors. A processor parses and builds a job's operators from the
// environment it is given; Default holds the built-ins. It is safe for
// concurrent use.
type Environment struct {
	mu  sync.RWMutex
	ops map[string]registered
}

type registered struct {
	spec *ConfigSpec
	ctor OperatorConstructor
}

var defaultEnv = NewEnvironment()

// NewEnvironment returns an empty environment.
func NewEnvironment() *Environment {
	return &Environment{ops: map[string]registered{}}
}

// Default returns the process's shared environment, into which the
// built-in operators register themselves when package
// operators/builtin is imported.
func Default() *Environment { return defaultEnv }

// Clone returns a new environment with the same operators, to add to
// without changing e (a test, or a binary that adds its own operators to
// the built-ins).
func (e *Environment) Clone() *Environment {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return &Environment{ops: maps.Clone(e.ops)}
}

// RegisterOperator adds the operator type name ([a-z][a-z0-9_]*) with its
// spec and constructor. It refuses a name already registered, and a spec
// that is inconsistent (a field name twice or one of CommonKeys, a
// default its field cannot parse, Keyed naming no expression field, an
// example with problems), saying what to fix. The spec must not change
// afterwards.
func (e *Environment) RegisterOperator(name string, spec *ConfigSpec, ctor OperatorConstructor) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("plugin: operator type %q: not a lowercase name ([a-z][a-z0-9_]*)", name)
	}
	if spec == nil || ctor == nil {
		return fmt.Errorf("plugin: operator type %q: nil spec or constructor", name)
	}
	if err := spec.validate(name); err != nil {
		return fmt.Errorf("plugin: operator type %q: %w", name, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.ops[name]; dup {
		return fmt.Errorf("plugin: operator type %q is already registered", name)
	}
	e.ops[name] = registered{spec: spec, ctor: ctor}
	return nil
}

// RegisterOperator registers an operator type in Default().
func RegisterOperator(name string, spec *ConfigSpec, ctor OperatorConstructor) error {
	return defaultEnv.RegisterOperator(name, spec, ctor)
}

// Lookup returns the spec and constructor of the operator type name.
func (e *Environment) Lookup(name string) (*ConfigSpec, OperatorConstructor, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	r, ok := e.ops[name]
	return r.spec, r.ctor, ok
}

// Names returns the registered operator types, sorted.
func (e *Environment) Names() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return slices.Sorted(maps.Keys(e.ops))
}

// WalkOperators calls fn for every operator type, in name order.
func (e *Environment) WalkOperators(fn func(name string, spec *ConfigSpec)) {
	for _, name := range e.Names() {
		spec, _, _ := e.Lookup(name)
		fn(name, spec)
	}
}

// Parse parses an operator entry with the spec of its type key
// (ConfigSpec.Parse); a missing or unknown type is a problem (with a
// did-you-mean).
func (e *Environment) Parse(node *yaml.Node, path string) (*ParsedConfig, []Problem) {
	n := resolve(node)
	if n == nil || n.Kind != yaml.MappingNode {
		line := 0
		if n != nil {
			line = n.Line
		}
		return nil, []Problem{{Key: path, Line: line, Msg: "an operator must be a mapping of its keys (name, type, from and its own)"}}
	}
	var tnode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			tnode = resolve(n.Content[i+1])
		}
	}
	if tnode == nil || isNull(tnode) {
		return nil, []Problem{{Key: join(path, "type"), Line: n.Line, Msg: "is required: one of " + yamlutil.QuoteList(e.Names()...)}}
	}
	spec, _, ok := e.Lookup(tnode.Value)
	if !ok || tnode.Kind != yaml.ScalarNode {
		msg := fmt.Sprintf("unknown operator type %q: want one of %s", tnode.Value, yamlutil.QuoteList(e.Names()...))
		if tnode.Kind != yaml.ScalarNode {
			msg = fmt.Sprintf("must be an operator type (one of %s), got %s", yamlutil.QuoteList(e.Names()...), yamlutil.KindName(tnode))
		} else if s := yamlutil.Suggest(tnode.Value, e.Names()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return nil, []Problem{{Key: join(path, "type"), Line: tnode.Line, Msg: msg}}
	}
	return spec.Parse(n, path)
}
