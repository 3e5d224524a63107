package config_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/config"
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
			key := prefix + name
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
				if ft.Kind() == reflect.Struct {
					key += "[]" // a list of sections: pipeline.operators[].type
				}
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
