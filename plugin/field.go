package plugin

import (
	"fmt"
	"time"

	"github.com/tidemark/tidemark/expression"
)

type fieldKind uint8

const (
	kindString fieldKind = iota
	kindInt
	kindFloat
	kindBool
	kindDuration
	kindEnum
	kindStringList
	kindExpr
	kindExprList
	kindExprMap
	kindObject
	kindObjectList
	kindObjectMap
	kindStringMap
)

// ConfigField describes one field of an operator's configuration. Make
// one with a New…Field function and refine it with its methods, which
// change the field and return it (for chaining).
//
// A field without Default or Optional is required.
type ConfigField struct {
	name        string
	kind        fieldKind
	description string
	def         any
	hasDefault  bool
	optional    bool
	advanced    bool
	fingerprint bool
	examples    []any
	options     []string // enum
	exprCtx     expression.Context
	exprOpts    []expression.Option
	children    []*ConfigField // objects
}

// NewStringField describes a string: any scalar, taken as its text.
func NewStringField(name string) *ConfigField {
	return &ConfigField{name: name, kind: kindString}
}

// NewIntField describes a whole number (int64).
func NewIntField(name string) *ConfigField { return &ConfigField{name: name, kind: kindInt} }

// NewFloatField describes a number (float64); a whole number is one too.
func NewFloatField(name string) *ConfigField { return &ConfigField{name: name, kind: kindFloat} }

// NewBoolField describes true or false.
func NewBoolField(name string) *ConfigField { return &ConfigField{name: name, kind: kindBool} }

// NewDurationField describes a Go duration with its unit ("500ms",
// "10s", "1m30s"; negative ones too). Give its Default as a string or a
// time.Duration.
func NewDurationField(name string) *ConfigField {
	return &ConfigField{name: name, kind: kindDuration}
}

// NewStringEnumField describes a string that must be one of options.
func NewStringEnumField(name string, options ...string) *ConfigField {
	return &ConfigField{name: name, kind: kindEnum, options: options}
}

// NewStringListField describes a list of strings.
func NewStringListField(name string) *ConfigField {
	return &ConfigField{name: name, kind: kindStringList}
}

// NewStringMapField describes a mapping of names to strings, in the
// order written (a map's `rename: {old: new}`). Give its Default as a
// map[string]string.
func NewStringMapField(name string) *ConfigField {
	return &ConfigField{name: name, kind: kindStringMap}
}

// NewExprField describes an expression (package expression), compiled
// for ctx with opts when the configuration is parsed: a compile error is
// a problem at the expression's line and column in the file.
// ParsedConfig.FieldExpr returns it compiled.
func NewExprField(name string, ctx expression.Context, opts ...expression.Option) *ConfigField {
	return &ConfigField{name: name, kind: kindExpr, exprCtx: ctx, exprOpts: opts}
}

// NewExprListField describes a list of expressions, or a single one
// (which is a list of one), as a composite key is written: `key:
// value.user` or `key: [value.bidder, value.auction]`.
func NewExprListField(name string, ctx expression.Context, opts ...expression.Option) *ConfigField {
	return &ConfigField{name: name, kind: kindExprList, exprCtx: ctx, exprOpts: opts}
}

// NewExprMapField describes a mapping of names to expressions, in the
// order written (`group_by: {auction: value.auction}`, a map's
// `fields`). Give its Default as a map[string]string.
func NewExprMapField(name string, ctx expression.Context, opts ...expression.Option) *ConfigField {
	return &ConfigField{name: name, kind: kindExprMap, exprCtx: ctx, exprOpts: opts}
}

// NewObjectField describes a nested mapping of fields (`window: {type:
// tumbling, size: 10s}`). Absent and not Optional, it holds its fields'
// defaults (and their required fields are missing).
func NewObjectField(name string, fields ...*ConfigField) *ConfigField {
	return &ConfigField{name: name, kind: kindObject, children: fields}
}

// NewObjectListField describes a list of mappings of fields (`order_by:
// [{expr: value.price, desc: true}]`).
func NewObjectListField(name string, fields ...*ConfigField) *ConfigField {
	return &ConfigField{name: name, kind: kindObjectList, children: fields}
}

// NewObjectMapField describes a mapping of names to mappings of fields,
// in the order written (`aggregates: {num: {fn: count}}`).
func NewObjectMapField(name string, fields ...*ConfigField) *ConfigField {
	return &ConfigField{name: name, kind: kindObjectMap, children: fields}
}

// Description says what the field does, for the generated docs (one
// paragraph of Markdown).
func (f *ConfigField) Description(d string) *ConfigField {
	f.description = d
	return f
}

// Default is the value the field takes when absent (or null): a value
// as the YAML would give it (string, int, float64, bool, []string,
// map[string]string, []any, map[string]any), or a time.Duration for a
// duration field. RegisterOperator refuses a default the field cannot
// parse.
func (f *ConfigField) Default(v any) *ConfigField {
	if d, ok := v.(time.Duration); ok {
		v = d.String()
	}
	f.def, f.hasDefault = v, true
	return f
}

// Optional makes the field optional without a default: absent, it is
// not set (ParsedConfig.Contains is false).
func (f *ConfigField) Optional() *ConfigField {
	f.optional = true
	return f
}

// Example adds an example value, for the generated docs.
func (f *ConfigField) Example(v any) *ConfigField {
	f.examples = append(f.examples, v)
	return f
}

// Advanced marks a field most users need not set; the docs say so.
func (f *ConfigField) Advanced() *ConfigField {
	f.advanced = true
	return f
}

// Fingerprint marks a field the operator's state depends on (a key, a
// window, an aggregate function): its value goes into
// ParsedConfig.Describe, and so into the job's topology fingerprint, so
// that a checkpoint is never restored into an operator that would read
// its state differently. Marking an object marks everything in it. Leave
// it off settings that only change output (a filter's condition, a
// format), so that changing them keeps checkpoints restorable.
func (f *ConfigField) Fingerprint() *ConfigField {
	f.fingerprint = true
	return f
}

// Name returns the field's name.
func (f *ConfigField) Name() string { return f.name }

// typeName describes the field's type for docs.
func (f *ConfigField) typeName() string {
	switch f.kind {
	case kindString:
		return "string"
	case kindInt:
		return "int"
	case kindFloat:
		return "number"
	case kindBool:
		return "bool"
	case kindDuration:
		return "duration"
	case kindEnum:
		s := "one of"
		for i, o := range f.options {
			if i > 0 {
				s += ","
			}
			s += " `" + o + "`"
		}
		return s
	case kindStringList:
		return "list of strings"
	case kindStringMap:
		return "map of name → string"
	case kindExpr:
		return "expression" + ctxNote(f.exprCtx)
	case kindExprList:
		return "expression or list of expressions" + ctxNote(f.exprCtx)
	case kindExprMap:
		return "map of name → expression" + ctxNote(f.exprCtx)
	case kindObject:
		return "object"
	case kindObjectList:
		return "list of objects"
	case kindObjectMap:
		return "map of name → object"
	}
	return fmt.Sprintf("kind %d", f.kind)
}

func ctxNote(ctx expression.Context) string {
	switch ctx {
	case expression.JoinContext:
		return " (with `left`, `right`)"
	case expression.ItemContext:
		return " (with `item`, `index`)"
	}
	return ""
}

// isExpr reports whether the field holds expressions (it can be a key).
func (f *ConfigField) isExpr() bool {
	return f.kind == kindExpr || f.kind == kindExprList || f.kind == kindExprMap
}

// isObject reports whether the field holds child fields.
func (f *ConfigField) isObject() bool {
	return f.kind == kindObject || f.kind == kindObjectList || f.kind == kindObjectMap
}

func findField(fields []*ConfigField, name string) *ConfigField {
	for _, c := range fields {
		if c.name == name {
			return c
		}
	}
	return nil
}
