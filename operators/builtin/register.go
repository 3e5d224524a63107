package builtin

import (
	"fmt"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/aggregate"
	"github.com/tidemark/tidemark/operators/dedup"
	"github.com/tidemark/tidemark/operators/join"
	"github.com/tidemark/tidemark/operators/rank"
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
		{"filter", filterSpec(), newFilter},
		{"map", mapSpec(), newMap},
		{"flat_map", flatMapSpec(), newFlatMap},
		{"union", unionSpec(), newUnion},
	} {
		if err := plugin.RegisterOperator(op.name, op.spec, op.ctor); err != nil {
			panic(fmt.Sprintf("builtin: %v", err))
		}
	}
	// Operator packages of their own register through their Register.
	for _, register := range []func(*plugin.Environment) error{
		rank.Register,
		dedup.Register,
		aggregate.Register,
		join.Register,
	} {
		if err := register(plugin.Default()); err != nil {
			panic(fmt.Sprintf("builtin: %v", err))
		}
	}
}

func keyBySpec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Sets each record's key: an expression, or a field of its JSON value.").
		Description("With `key`, the key is the expression's result: a string as it is, an integer "+
			"in decimal, a float in its shortest form, a bool as `true`/`false`, null as the empty "+
			"key, a list (a composite key) as its JSON text. A failing expression sends the record "+
			"to the dead-letter topic. With `field` (the form of `pipeline.operators`), it makes the "+
			"value of that top-level field of the JSON value the key: a string as it is, a number in "+
			"its JSON form (`42`, `-1.5e3`); an empty string is a key like any other. A value that "+
			"is not a JSON object, lacks the field, or holds `null`, `true`/`false`, an object or a "+
			"list in it goes to the dead-letter topic with a `tidemark.error` naming the field (e.g. "+
			"`field \"user\" is null, not a string or a number`); it never stops the job. A stateful "+
			"operator after it that is keyed by `key` reads the new key through a key exchange; in "+
			"`pipeline.operators` key_by runs in the source tasks, before the key exchange, so it "+
			"must come before `count`, which keeps state by the new key.").
		Field(plugin.NewStringField("field").
			Description("The top-level JSON field whose value becomes the key. Set `field` or `key`.").
			Example("user").
			Optional().
			Fingerprint()).
		Field(plugin.NewExprListField("key", expression.RecordContext).
			Description("The key: an expression over the record, or a list of them for a composite key (the JSON list of their values). Set `field` or `key`.").
			Example("value.user").
			Example([]string{"value.bidder", "value.auction"}).
			Optional().
			Fingerprint()).
		Check(func(c *plugin.ParsedConfig) error {
			hasField, hasKey := c.Contains("field"), c.Contains("key")
			switch {
			case hasField && hasKey:
				return plugin.FieldErrorf("key", "set field or key, not both")
			case !hasField && !hasKey:
				return fmt.Errorf("set key (an expression, e.g. key: value.user) or field (a JSON field)")
			}
			if f, _ := c.FieldString("field"); hasField && f == "" {
				return plugin.FieldErrorf("field", "must not be empty: the JSON field to key records by")
			}
			return nil
		}).
		Example("Key clicks by user", "type: key_by\nfield: user").
		Example("Key bids by bidder and auction", "type: key_by\nfrom: bid\nkey: [value.bidder, value.auction]")
}

func newKeyBy(c *plugin.ParsedConfig, _ *plugin.Resources) (operators.Operator, error) {
	if c.Contains("key") {
		k, err := c.FieldExprList("key")
		if err != nil {
			return nil, err
		}
		return &KeyBy{Key: k}, nil
	}
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
