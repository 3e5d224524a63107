package plugin

import "slices"

// OutputFields declares, per configuration, the order of the fields of
// the values the operator emits (design §2.3: a map's fields, an
// aggregate's group_by, window and aggregates, a join's select): a JSON
// sink writes these fields first, in this order, then any others sorted.
// Without it, or when fn returns nil, the order is unknown and a sink
// sorts the fields.
func (s *ConfigSpec) OutputFields(fn func(*ParsedConfig) []string) *ConfigSpec {
	s.outputFields = fn
	return s
}

// OutputFields returns the order of the fields of the values the
// operator emits (see ConfigSpec.OutputFields), nil when unknown.
func (c *ParsedConfig) OutputFields() []string {
	if c.spec == nil || c.spec.outputFields == nil {
		return nil
	}
	return slices.Clone(c.spec.outputFields(c))
}
