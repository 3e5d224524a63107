// Package cli is the processor's command line as a library: run,
// validate, migrate, savepoint, tail, checkpoints, docs, nexmark and
// version. Main runs it with an operator environment (package plugin), so
// that a program of its own, with operators of its own registered by
// name, is the processor with those operators usable from YAML:
//
//	func main() {
//		spec := plugin.NewConfigSpec().Summary("Masks a field.").
//			Field(plugin.NewStringField("field").Description("Field to mask.")).
//			Example("Mask the card", "type: mask\nfrom: payments\nfield: card")
//		if err := plugin.RegisterOperator("mask", spec, newMask); err != nil {
//			panic(err)
//		}
//		cli.Main(plugin.Default())
//	}
//
// cmd/processor is exactly that with the built-in operators only;
// examples/custom-operator is a complete program with a stateful operator
// of its own. Run "processor --help" for the commands.
package cli
