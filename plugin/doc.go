// Package plugin is Tidemark's public API for operators: a ConfigSpec per
// operator type declares its configuration (fields, defaults, docs,
// examples) and its place in the job graph (inputs, key, side outputs,
// changelog mode, the settings its state depends on); an Environment maps
// type names to specs and constructors. The spec drives parsing,
// validation with line-numbered problems, the generated reference docs and
// the planner's decisions, so adding an operator touches one file, the same
// way for a built-in and for a user's own operator compiled into their
// binary.
//
// # Writing an operator
//
//	spec := plugin.NewConfigSpec().
//		Summary("Masks a field.").
//		Field(plugin.NewStringField("field").Description("Field to mask.")).
//		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
//		Example("Mask the card number", "type: mask\nfrom: payments\nfield: card")
//	err := env.RegisterOperator("mask", spec, func(c *plugin.ParsedConfig, r *plugin.Resources) (operators.Operator, error) {
//		f, err := c.FieldString("field")
//		return &mask{field: f}, err
//	})
//
// An operator entry of a configuration is one YAML mapping: the common
// keys name, type and from (CommonKeys), and the type's own fields. Parse
// checks it strictly: unknown keys (with a did-you-mean), values of the
// wrong type, missing required fields and expressions that do not compile
// are problems naming the key and its line, all reported at once; defaults
// fill what is absent.
//
// # Graph declarations
//
// Inputs says how many inputs (from:) the type takes; Keyed says which
// field holds each input's key expression (a keyed operator keeps keyed
// state, and the planner routes its input by that key); PreservesKey says
// whether records leave with the key they came with (so a stateful
// operator downstream needs no new key exchange); Outputs names side
// outputs (port 1, 2, … of operators.PortCollector); Changelog derives the
// output's Mode (append or updating) from the inputs' modes; Fingerprint
// marks the settings the operator's state depends on, which Describe puts
// into the job's topology description, so that a checkpoint is restored
// only into an operator whose state means the same.
//
// Built-in operators register themselves in Default() from the init
// function of package operators/builtin: import it (cmd/processor does) to
// have them.
package plugin
