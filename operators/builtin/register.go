package builtin

import (
	"fmt"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/plugin"
)

// The built-in operators register themselves in plugin.Default() through
// their specs, as a user's operator would.
func init() {
	for _, op := range []struct {
		name string
		spec *plugin.ConfigSpec
		ctor plugin.OperatorConstructor
	}{
		{"key_by", keyBySpec(), newKeyBy},
		{"count", countSpec(), newCount},
		{"passthrough", passthroughSpec(), newPassthrough},
	} {
		if err := plugin.RegisterOperator(op.name, op.spec, op.ctor); err != nil {
			panic(fmt.Sprintf("builtin: %v", err))
		}
	}
}

func keyBySpec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Keys each record by a field of its JSON value.").
		Description("Decodes the record's value as a JSON object and makes the value of `field` "+
			"its key: a string as it is, a number in its JSON form (`42`, `-1.5e3`); an empty "+
			"string is a key like any other. A value that is not a JSON object, lacks the field, "+
			"or holds `null`, `true`/`false`, an object or a list in it goes to the dead-letter "+
			"topic with a `tidemark.error` naming the field (e.g. `field \"user\" is null, not a "+
			"string or a number`); it never stops the job. In `pipeline.operators` it runs in the "+
			"source tasks, before the key exchange, so it must come before `count`, which keeps "+
			"state by the new key.").
		Field(plugin.NewStringField("field").
			Description("The top-level JSON field whose value becomes the key.").
			Example("user").
			Fingerprint()).
		Check(func(c *plugin.ParsedConfig) error {
			if f, _ := c.FieldString("field"); f == "" {
				return plugin.FieldErrorf("field", "must not be empty: the JSON field to key records by")
			}
			return nil
		}).
		Example("Key clicks by user", "type: key_by\nfield: user")
}

func newKeyBy(c *plugin.ParsedConfig, _ *plugin.Resources) (operators.Operator, error) {
	f, err := c.FieldString("field")
	if err != nil {
		return nil, err
	}
	return &KeyBy{Field: f}, nil
}

func countSpec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Keeps a running count of records per key.").
		Description("For every record, emits the record's key with the key's new count as a "+
			"decimal value, keeping the record's timestamp; the count is kept in keyed state. "+
			"Without a `key_by` before it, it counts by the Kafka record's own key, byte for "+
			"byte, and all records without a key share one count (emitted with no key).").
		Keyed().
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Changelog(func(_ *plugin.ParsedConfig, in []plugin.Mode) (plugin.Mode, error) {
			if in[0] == plugin.Updating {
				return 0, fmt.Errorf("count needs an append input: it counts records and cannot take back an update or a delete")
			}
			return plugin.Append, nil
		}).
		Example("Count clicks per user", "type: count")
}

func newCount(*plugin.ParsedConfig, *plugin.Resources) (operators.Operator, error) {
	return &Count{}, nil
}

func passthroughSpec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Forwards every record unchanged.").
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Example("Forward records", "type: passthrough")
}

func newPassthrough(*plugin.ParsedConfig, *plugin.Resources) (operators.Operator, error) {
	return &Passthrough{}, nil
}
