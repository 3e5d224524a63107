package plugin

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ParsedConfig is an operator's configuration parsed by its spec (or a
// nested object of one): every field either holds a value of its type,
// its default, or, optional and absent, nothing. Read fields with the
// Field… methods by path (FieldString("window", "type") reads a nested
// object's field); they fail only when the path or the type does not fit
// the spec, a mistake of the operator's code.
type ParsedConfig struct {
	spec    *ConfigSpec // nil below the operator entry
	fields  []*ConfigField
	vals    map[string]any
	key     string
	line    int
	name    string
	typ     string
	from    []string
	hasFrom bool
}

// NamedExpr is one entry of an expression map.
type NamedExpr struct {
	Name string
	Expr *Expr
}

// NamedString is one entry of a string map.
type NamedString struct {
	Name, Value string
}

// NamedConfig is one entry of an object map.
type NamedConfig struct {
	Name   string
	Config *ParsedConfig
}

// Name returns the entry's name key ("" when absent).
func (c *ParsedConfig) Name() string { return c.name }

// Type returns the entry's type key ("" when absent).
func (c *ParsedConfig) Type() string { return c.typ }

// From returns the entry's inputs, in order (nil when from is absent).
func (c *ParsedConfig) From() []string { return slices.Clone(c.from) }

// Path returns the configuration key of the entry or object (the path
// given to Parse, then the field's path).
func (c *ParsedConfig) Path() string { return c.key }

// Line returns the file line the entry or object starts on (0 if
// unknown).
func (c *ParsedConfig) Line() int { return c.line }

// Contains reports whether the field at path holds a value (given, or by
// default).
func (c *ParsedConfig) Contains(path ...string) bool {
	_, _, err := c.lookup(path)
	return err == nil
}

// lookup finds the value at path and its field.
func (c *ParsedConfig) lookup(path []string) (any, *ConfigField, error) {
	if len(path) == 0 {
		return nil, nil, fmt.Errorf("plugin: empty field path")
	}
	cur := c
	for i, name := range path {
		f := findField(cur.fields, name)
		if f == nil {
			return nil, nil, fmt.Errorf("plugin: %s: no such field in the spec", cur.keyOf(path[i:i+1]))
		}
		v, ok := cur.vals[name]
		if !ok {
			return nil, f, fmt.Errorf("plugin: %s: not set", cur.keyOf(path[i:i+1]))
		}
		if i == len(path)-1 {
			return v, f, nil
		}
		sub, ok := v.(*ParsedConfig)
		if !ok {
			return nil, nil, fmt.Errorf("plugin: %s is a %s, not an object", cur.keyOf(path[i:i+1]), f.typeName())
		}
		cur = sub
	}
	panic("unreachable")
}

func (c *ParsedConfig) keyOf(path []string) string {
	return join(c.key, strings.Join(path, "."))
}

func field[T any](c *ParsedConfig, path []string, want string) (T, error) {
	var zero T
	v, f, err := c.lookup(path)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("plugin: %s is a %s, not a %s", c.keyOf(path), f.typeName(), want)
	}
	return t, nil
}

// FieldString returns a string or enum field.
func (c *ParsedConfig) FieldString(path ...string) (string, error) {
	return field[string](c, path, "string")
}

// FieldInt returns a whole-number field.
func (c *ParsedConfig) FieldInt(path ...string) (int, error) {
	v, err := field[int64](c, path, "int")
	return int(v), err
}

// FieldInt64 returns a whole-number field.
func (c *ParsedConfig) FieldInt64(path ...string) (int64, error) {
	return field[int64](c, path, "int")
}

// FieldFloat returns a number field.
func (c *ParsedConfig) FieldFloat(path ...string) (float64, error) {
	return field[float64](c, path, "number")
}

// FieldBool returns a bool field.
func (c *ParsedConfig) FieldBool(path ...string) (bool, error) {
	return field[bool](c, path, "bool")
}

// FieldDuration returns a duration field.
func (c *ParsedConfig) FieldDuration(path ...string) (time.Duration, error) {
	return field[time.Duration](c, path, "duration")
}

// FieldStringList returns a list-of-strings field.
func (c *ParsedConfig) FieldStringList(path ...string) ([]string, error) {
	v, err := field[[]string](c, path, "list of strings")
	return slices.Clone(v), err
}

// FieldStringMap returns a string-map field, in the order written.
func (c *ParsedConfig) FieldStringMap(path ...string) ([]NamedString, error) {
	v, err := field[[]NamedString](c, path, "map of strings")
	return slices.Clone(v), err
}

// FieldExpr returns an expression field, compiled.
func (c *ParsedConfig) FieldExpr(path ...string) (*Expr, error) {
	return field[*Expr](c, path, "expression")
}

// FieldExprList returns an expression-list field, compiled (a single
// expression given is a list of one).
func (c *ParsedConfig) FieldExprList(path ...string) ([]*Expr, error) {
	v, err := field[[]*Expr](c, path, "expression list")
	return slices.Clone(v), err
}

// FieldExprMap returns an expression-map field, compiled, in the order
// written.
func (c *ParsedConfig) FieldExprMap(path ...string) ([]NamedExpr, error) {
	v, err := field[[]NamedExpr](c, path, "map of expressions")
	return slices.Clone(v), err
}

// FieldObject returns an object field.
func (c *ParsedConfig) FieldObject(path ...string) (*ParsedConfig, error) {
	return field[*ParsedConfig](c, path, "object")
}

// FieldObjectList returns an object-list field.
func (c *ParsedConfig) FieldObjectList(path ...string) ([]*ParsedConfig, error) {
	v, err := field[[]*ParsedConfig](c, path, "list of objects")
	return slices.Clone(v), err
}

// FieldObjectMap returns an object-map field, in the order written.
func (c *ParsedConfig) FieldObjectMap(path ...string) ([]NamedConfig, error) {
	v, err := field[[]NamedConfig](c, path, "map of objects")
	return slices.Clone(v), err
}

// Inputs returns how many inputs the operator takes (AnyInputs: one or
// more); 0 below the operator entry.
func (c *ParsedConfig) Inputs() int {
	if c.spec == nil {
		return 0
	}
	return c.spec.inputs
}

// Keyed reports whether the operator keeps keyed state (its spec is
// Keyed).
func (c *ParsedConfig) Keyed() bool { return c.spec != nil && c.spec.keyed }

// PreservesKey reports whether the records the operator emits keep their
// input's key (see ConfigSpec.PreservesKey).
func (c *ParsedConfig) PreservesKey() bool {
	return c.spec != nil && c.spec.preservesKey != nil && c.spec.preservesKey(c)
}

// OutputPorts returns the names of the operator's side outputs; the i-th
// is port i+1.
func (c *ParsedConfig) OutputPorts() []string {
	if c.spec == nil {
		return nil
	}
	return slices.Clone(c.spec.outputs)
}

// Port returns the port number of the side output name (1, 2, …), or
// false if the operator has none of that name. "" is the main output,
// port 0.
func (c *ParsedConfig) Port(name string) (int, bool) {
	if name == "" {
		return 0, true
	}
	if c.spec == nil {
		return 0, false
	}
	i := slices.Index(c.spec.outputs, name)
	return i + 1, i >= 0
}

// OutputMode returns the changelog mode of the operator's output given
// its inputs' modes, in the order of from (see ConfigSpec.Changelog).
func (c *ParsedConfig) OutputMode(in []Mode) (Mode, error) {
	if c.spec != nil && c.spec.changelog != nil {
		return c.spec.changelog(c, slices.Clone(in))
	}
	if slices.Contains(in, Updating) {
		return Updating, nil
	}
	return Append, nil
}

// Fingerprinted reports whether the operator belongs in the job's
// topology description (ISSUE 9 decision 4): it keeps keyed state, or
// has fields marked Fingerprint (key_by, which decides keys). Stateless
// operators that decide no keys are left out, so that changing them
// keeps checkpoints restorable.
func (c *ParsedConfig) Fingerprinted() bool {
	if c.Keyed() {
		return true
	}
	var found bool
	walkFields(c.fields, func(f *ConfigField) {
		found = found || f.fingerprint
	})
	return found
}

func walkFields(fields []*ConfigField, fn func(*ConfigField)) {
	for _, f := range fields {
		fn(f)
		walkFields(f.children, fn)
	}
}

// Describe returns the operator's type and the values of its fields
// marked Fingerprint as space-separated k=v pairs, in the spec's field
// order ("type=key_by field=user", "type=count"), for its line in the
// job's topology description. Nested fields are dotted
// (window.size=10s), list items indexed (order_by[0].desc=true). Scalars
// are written as they are (a string holding a line break or a control
// character is quoted), durations in Go's form, lists and maps in
// brackets and braces with their items Go-quoted (expressions by their
// text). Absent optional fields are
// left out; defaults are written like given values.
func (c *ParsedConfig) Describe() string {
	var parts []string
	if c.typ != "" {
		parts = append(parts, "type="+c.typ)
	}
	c.describe(&parts, "", false)
	return strings.Join(parts, " ")
}

func (c *ParsedConfig) describe(parts *[]string, prefix string, all bool) {
	for _, f := range c.fields {
		v, ok := c.vals[f.name]
		if !ok {
			continue
		}
		in := all || f.fingerprint
		key := prefix + f.name
		switch x := v.(type) {
		case *ParsedConfig:
			x.describe(parts, key+".", in)
			continue
		case []*ParsedConfig:
			for i, o := range x {
				o.describe(parts, fmt.Sprintf("%s[%d].", key, i), in)
			}
			continue
		case []NamedConfig:
			for _, o := range x {
				o.Config.describe(parts, key+"."+o.Name+".", in)
			}
			continue
		}
		if in {
			*parts = append(*parts, key+"="+describeValue(v))
		}
	}
}

func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		if strings.ContainsFunc(x, unicode.IsControl) {
			return strconv.Quote(x)
		}
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Duration:
		return x.String()
	case *Expr:
		return describeValue(x.Source())
	case []string:
		b := []byte{'['}
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, s)
		}
		return string(append(b, ']'))
	case []*Expr:
		b := []byte{'['}
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, e.Source())
		}
		return string(append(b, ']'))
	case []NamedString:
		b := []byte{'{'}
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, e.Name)
			b = append(b, ':')
			b = strconv.AppendQuote(b, e.Value)
		}
		return string(append(b, '}'))
	case []NamedExpr:
		b := []byte{'{'}
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, e.Name)
			b = append(b, ':')
			b = strconv.AppendQuote(b, e.Expr.Source())
		}
		return string(append(b, '}'))
	}
	return fmt.Sprint(v)
}
