package plugin

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// CommonKeys are the keys every operator entry has besides its type's
// fields: name (unique in the job; its state's id), type (the registered
// type) and from (its input, or a list of inputs). No field may take one
// of these names.
var CommonKeys = []string{"name", "type", "from"}

// AnyInputs, given to Inputs, lets an operator take one input or more.
const AnyInputs = -1

// Mode is the changelog mode of a stream (design §2.4): an Append stream
// holds only inserts; an Updating stream also holds update-before,
// update-after and delete records (operators.Kind).
type Mode uint8

// The changelog modes.
const (
	Append Mode = iota
	Updating
)

func (m Mode) String() string {
	switch m {
	case Append:
		return "append"
	case Updating:
		return "updating"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Example is a titled example of an operator entry, in YAML.
type Example struct {
	Title, Config string
}

// ConfigSpec describes an operator type: its documentation, its fields,
// and its shape in the job graph. Build one with NewConfigSpec and its
// methods, which change the spec and return it (for chaining); register
// it with Environment.RegisterOperator. A registered spec must not be
// changed.
type ConfigSpec struct {
	summary, description string
	examples             []Example
	fields               []*ConfigField
	inputs               int
	keyed                bool
	keyFields            []string
	preservesKey         func(*ParsedConfig) bool
	outputs              []string
	changelog            func(*ParsedConfig, []Mode) (Mode, error)
	checks               []func(*ParsedConfig) error
	outputFields         func(*ParsedConfig) []string
}

// NewConfigSpec returns an empty spec: one input, not keyed, not key
// preserving, no side output, output mode updating if any input is.
func NewConfigSpec() *ConfigSpec { return &ConfigSpec{inputs: 1} }

// Summary is one sentence saying what the operator does, for the docs.
func (s *ConfigSpec) Summary(summary string) *ConfigSpec {
	s.summary = summary
	return s
}

// Description says in more detail how the operator behaves (Markdown),
// for the docs.
func (s *ConfigSpec) Description(d string) *ConfigSpec {
	s.description = d
	return s
}

// Example adds an example entry (YAML of one operator, with its type),
// shown in the docs. RegisterOperator parses every example and refuses
// the spec if one has problems.
func (s *ConfigSpec) Example(title, yamlConfig string) *ConfigSpec {
	s.examples = append(s.examples, Example{Title: title, Config: yamlConfig})
	return s
}

// Field adds a field (in the order of the docs and of Describe).
func (s *ConfigSpec) Field(f *ConfigField) *ConfigSpec {
	s.fields = append(s.fields, f)
	return s
}

// Fields adds several fields.
func (s *ConfigSpec) Fields(fs ...*ConfigField) *ConfigSpec {
	s.fields = append(s.fields, fs...)
	return s
}

// Inputs sets how many inputs the operator takes: 1 (the default), 2 (a
// join: from: [left, right]; it must be Keyed), or AnyInputs (one or
// more). The operator receives input i through operators.MultiInput when
// it has more than one.
func (s *ConfigSpec) Inputs(n int) *ConfigSpec {
	s.inputs = n
	return s
}

// Keyed declares that the operator keeps keyed state, and where each
// input's key comes from: the fields (dotted paths for nested ones, such
// as "key.left") holding the key expressions, one per input, or one for
// all inputs; none for the record key as it arrives (`key`). An
// expression field is a single key; a list or map of expressions is a
// composite key (the list of their values), a single one if it has one
// entry. The planner routes each input by its key to the task that owns
// it (or, when records already arrive partitioned by it, keeps them in
// the task), and sets Record.Key to it before the operator sees the
// record.
func (s *ConfigSpec) Keyed(fields ...string) *ConfigSpec {
	s.keyed = true
	s.keyFields = fields
	return s
}

// PreservesKey declares, per configuration, whether every record the
// operator emits keeps the key of the record it came from (so that a
// keyed operator downstream needs no new key exchange). Without it an
// operator is taken not to preserve keys: always correct, at the cost of
// an exchange.
func (s *ConfigSpec) PreservesKey(fn func(*ParsedConfig) bool) *ConfigSpec {
	s.preservesKey = fn
	return s
}

// Outputs names the operator's side outputs, which `from: op.name`
// reads; the i-th (from 0) is port i+1 of operators.PortCollector, port
// 0 being the main output.
func (s *ConfigSpec) Outputs(names ...string) *ConfigSpec {
	s.outputs = names
	return s
}

// Changelog sets how the operator's output mode follows from its
// configuration and its inputs' modes (in the order of from); an error
// refuses the combination and becomes a problem of the operator (say
// what to change: "first needs an append input"). Without it the output
// is updating if any input is, else append.
func (s *ConfigSpec) Changelog(fn func(conf *ParsedConfig, in []Mode) (Mode, error)) *ConfigSpec {
	s.changelog = fn
	return s
}

// Check adds a check of a parsed configuration, run when every field
// parsed: for combinations of fields ("set value or fields, not both").
// An error made with FieldErrorf is reported at that field's key and
// line; any other at the operator's.
func (s *ConfigSpec) Check(fn func(*ParsedConfig) error) *ConfigSpec {
	s.checks = append(s.checks, fn)
	return s
}

// Examples returns the spec's examples.
func (s *ConfigSpec) Examples() []Example { return slices.Clone(s.examples) }

// FieldError is an error about one field of a configuration, from a
// Check.
type FieldError struct {
	// Field is the field's path below the operator, dotted
	// ("window.size").
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// FieldErrorf returns a *FieldError about field.
func FieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// validate checks the spec itself; name is the type it is registered as.
func (s *ConfigSpec) validate(name string) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.inputs != AnyInputs && s.inputs < 1 {
		bad("Inputs(%d): want 1, 2, … or AnyInputs", s.inputs)
	}
	if s.inputs > 1 && !s.keyed {
		bad("Inputs(%d) needs Keyed: an operator with several inputs joins them by key (merge streams with union)", s.inputs)
	}
	s.validateFields(s.fields, "", true, bad)
	if s.keyed {
		switch n := len(s.keyFields); {
		case n > 1 && s.inputs == AnyInputs:
			bad("Keyed(%s): an operator with any number of inputs takes one key field for all of them", strings.Join(s.keyFields, ", "))
		case n > 1 && n != s.inputs:
			bad("Keyed(%s): %d key fields for %d inputs: give one per input, or one for all", strings.Join(s.keyFields, ", "), n, s.inputs)
		}
		for _, kf := range s.keyFields {
			f := s.fieldAt(kf)
			switch {
			case f == nil:
				bad("Keyed(%q): no such field", kf)
			case !f.isExpr():
				bad("Keyed(%q): the field is a %s, not an expression, a list or a map of expressions", kf, f.typeName())
			}
		}
	}
	seen := map[string]bool{}
	for _, o := range s.outputs {
		if !nameRE.MatchString(o) || seen[o] {
			bad("Outputs: %q is not a lowercase name ([a-z][a-z0-9_]*) or is given twice", o)
		}
		seen[o] = true
	}
	if len(errs) == 0 {
		for i, ex := range s.examples {
			if err := s.checkExample(name, ex); err != nil {
				bad("example %d (%s): %w", i+1, ex.Title, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (s *ConfigSpec) validateFields(fields []*ConfigField, prefix string, top bool, bad func(string, ...any)) {
	seen := map[string]bool{}
	for _, f := range fields {
		key := prefix + f.name
		switch {
		case f == nil:
			bad("a nil field in %q", prefix)
			continue
		case !nameRE.MatchString(f.name):
			bad("field %q: not a lowercase name ([a-z][a-z0-9_]*)", key)
		case seen[f.name]:
			bad("field %q given twice", key)
		case top && slices.Contains(CommonKeys, f.name):
			bad("field %q: %s are common to every operator", key, strings.Join(CommonKeys, ", "))
		}
		seen[f.name] = true
		if f.kind == kindEnum && len(f.options) == 0 {
			bad("field %q: an enum without options", key)
		}
		if f.isObject() {
			if len(f.children) == 0 {
				bad("field %q: an object without fields", key)
			}
			s.validateFields(f.children, key+".", false, bad)
		}
		if f.hasDefault {
			var n yaml.Node
			if err := n.Encode(f.def); err != nil {
				bad("field %q: default %v: %v", key, f.def, err)
				continue
			}
			p := parser{lines: map[string]int{}}
			p.value(f, &n, key, 0)
			for _, pr := range p.problems {
				bad("field %q: default %v: %s", key, f.def, pr.Msg)
			}
		}
	}
}

func (s *ConfigSpec) checkExample(name string, ex Example) error {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(ex.Config), &doc); err != nil {
		return err
	}
	conf, ps := s.Parse(&doc, "")
	if len(ps) > 0 {
		return problemsError(ps)
	}
	if conf.Type() != "" && conf.Type() != name {
		return fmt.Errorf("type %q, want %q", conf.Type(), name)
	}
	return nil
}

// fieldAt finds the field at a dotted path through objects.
func (s *ConfigSpec) fieldAt(path string) *ConfigField {
	fields := s.fields
	var f *ConfigField
	for part := range strings.SplitSeq(path, ".") {
		if f != nil {
			if f.kind != kindObject {
				return nil
			}
			fields = f.children
		}
		if f = findField(fields, part); f == nil {
			return nil
		}
	}
	return f
}
