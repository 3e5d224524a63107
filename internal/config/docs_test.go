package config_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/plugin"
)

// TestEveryKeyIsDocumented checks that the README's configuration
// reference names every key the decoder accepts.
func TestEveryKeyIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(reflect.Type, string)
	walk = func(rt reflect.Type, prefix string) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() {
				continue
			}
			key := prefix + name
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
				if ft.Kind() == reflect.Struct {
					key += "[]" // a list of sections: pipeline.operators[].type
				}
			}
			if ft == reflect.TypeFor[yaml.Node]() {
				// An operator entry, parsed with its type's spec (whose
				// keys the generated operator reference documents):
				// only its common keys belong here.
				for _, c := range plugin.CommonKeys {
					keys = append(keys, key+"."+c)
				}
				continue
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]() {
				walk(ft, key+".")
				continue
			}
			keys = append(keys, key)
		}
	}
	walk(reflect.TypeFor[config.Config](), "")
	for _, k := range keys {
		if !strings.Contains(string(readme), "`"+k+"`") {
			t.Errorf("README.md does not document %s", k)
		}
	}
}
