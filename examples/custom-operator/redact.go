package main

import (
	"context"
	"maps"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// redactSpec declares redact, a stateless operator: no Keyed, and it keeps
// keys (PreservesKey), so a keyed operator after it needs no new key
// exchange.
func redactSpec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Masks fields of the value.").
		Description("Replaces each listed top-level field of an object value that holds a string by "+
			"its first `keep` characters followed by `mask`; other values pass unchanged. "+
			"Part of examples/custom-operator.").
		Fields(
			plugin.NewStringListField("fields").
				Description("The fields to mask.").
				Example([]string{"card", "email"}),
			plugin.NewIntField("keep").
				Description("How many leading characters to keep.").
				Default(0),
			plugin.NewStringField("mask").
				Description("What replaces the rest.").
				Default("***"),
		).
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Check(func(c *plugin.ParsedConfig) error {
			if k, _ := c.FieldInt("keep"); k < 0 {
				return plugin.FieldErrorf("keep", "must be 0 or more, got %d", k)
			}
			if fs, _ := c.FieldStringList("fields"); len(fs) == 0 {
				return plugin.FieldErrorf("fields", "must name at least one field")
			}
			return nil
		}).
		Example("Mask card numbers but their first four digits",
			"name: masked\ntype: redact\nfrom: payments\nfields: [card]\nkeep: 4")
}

func newRedact(c *plugin.ParsedConfig, _ *plugin.Resources) (operators.Operator, error) {
	fields, err := c.FieldStringList("fields")
	if err != nil {
		return nil, err
	}
	keep, err := c.FieldInt("keep")
	if err != nil {
		return nil, err
	}
	mask, err := c.FieldString("mask")
	if err != nil {
		return nil, err
	}
	return &redact{fields: fields, keep: keep, mask: mask}, nil
}

type redact struct {
	operators.Base
	fields []string
	keep   int
	mask   string
}

// Process implements operators.Operator.
func (d *redact) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for _, r := range recs {
		if in, ok := r.Data.(map[string]any); ok {
			var obj map[string]any
			for _, f := range d.fields {
				s, ok := in[f].(string)
				if !ok {
					continue
				}
				if obj == nil {
					obj = maps.Clone(in) // copy on write: the input is shared
				}
				obj[f] = prefix(s, d.keep) + d.mask
			}
			if obj != nil {
				r.Data, r.Value = obj, nil
			}
		}
		out.Emit(r)
	}
	return nil
}

// prefix returns the first n characters (runes) of s.
func prefix(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
