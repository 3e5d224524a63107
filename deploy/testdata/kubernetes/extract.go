//go:build ignore

// extract writes schemas.json: the Kubernetes OpenAPI v3 schemas of the
// objects deploy/kubernetes/ uses, and every schema they reference,
// copied unchanged from the OpenAPI documents that k8s.io/client-go ships
// as test data (openapi/openapitest/testdata, served with the module by
// the Go module proxy). Run it from the repository root after changing
// the version or the roots:
//
//	go run deploy/testdata/kubernetes/extract.go
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
)

const module = "k8s.io/client-go@v0.37.1"

// roots are the kinds deploy/kubernetes/ uses, by OpenAPI document.
var roots = map[string][]string{
	"api__v1_openapi.json":        {"io.k8s.api.core.v1.ConfigMap", "io.k8s.api.core.v1.Service"},
	"apis__apps__v1_openapi.json": {"io.k8s.api.apps.v1.StatefulSet"},
}

var ref = regexp.MustCompile(`"#/components/schemas/([^"]+)"`)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "extract:", err)
		os.Exit(1)
	}
}

func run() error {
	out, err := exec.Command("go", "mod", "download", "-json", module).Output()
	if err != nil {
		return fmt.Errorf("go mod download %s: %w", module, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return fmt.Errorf("go mod download %s: no directory (%v)", module, err)
	}
	schemas := map[string]json.RawMessage{}
	var docs []string
	for doc := range roots {
		docs = append(docs, doc)
	}
	sort.Strings(docs)
	for _, doc := range docs {
		data, err := os.ReadFile(filepath.Join(mod.Dir, "openapi", "openapitest", "testdata", doc))
		if err != nil {
			return err
		}
		var d struct {
			Components struct {
				Schemas map[string]json.RawMessage `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			return fmt.Errorf("%s: %w", doc, err)
		}
		todo := append([]string(nil), roots[doc]...)
		for len(todo) > 0 {
			name := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			if _, ok := schemas[name]; ok {
				continue
			}
			s, ok := d.Components.Schemas[name]
			if !ok {
				return fmt.Errorf("%s: no schema %s", doc, name)
			}
			schemas[name] = s
			for _, m := range ref.FindAllSubmatch(s, -1) {
				todo = append(todo, string(m[1]))
			}
		}
	}
	doc := map[string]any{
		"openapi": "3.0.0",
		"info": map[string]string{
			"title":   "Kubernetes",
			"version": "unversioned",
			"x-source": module + " openapi/openapitest/testdata/{" + docs[0] + "," + docs[1] +
				"}: the schemas of ConfigMap, Service and StatefulSet and every schema they reference, unchanged",
		},
		"components": map[string]any{"schemas": schemas},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join("deploy", "testdata", "kubernetes", "schemas.json"), buf.Bytes(), 0o644)
}
