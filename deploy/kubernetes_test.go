package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/internal/config"
)

const (
	manifestPath = "kubernetes/tidemark.yaml"
	schemasPath  = "testdata/kubernetes/schemas.json"
	schemasURL   = "file:///kubernetes/schemas.json"
)

// kubeSchemas validates Kubernetes objects against the vendored OpenAPI v3
// schemas (testdata/kubernetes/schemas.json, written by extract.go beside
// it from the documents k8s.io/client-go ships), made strict as kubeconform
// -strict does: an object schema with properties admits no other key, so a
// misspelt field fails instead of being dropped by the API server.
type kubeSchemas struct {
	compiler *jsonschema.Compiler
	byKind   map[string]string // apiVersion + " " + kind -> schema name
}

func loadKubeSchemas(t *testing.T) *kubeSchemas {
	t.Helper()
	data, err := os.ReadFile(schemasPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", schemasPath, err)
	}
	schemas, _ := doc.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any)
	if len(schemas) == 0 {
		t.Fatalf("%s holds no components.schemas", schemasPath)
	}
	k := &kubeSchemas{compiler: jsonschema.NewCompiler(), byKind: map[string]string{}}
	for name, s := range schemas {
		strict(s)
		gvks, _ := s.(map[string]any)["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			g := g.(map[string]any)
			apiVersion := g["version"].(string)
			if group := g["group"].(string); group != "" {
				apiVersion = group + "/" + apiVersion
			}
			k.byKind[apiVersion+" "+g["kind"].(string)] = name
		}
	}
	if err := k.compiler.AddResource(schemasURL, doc); err != nil {
		t.Fatal(err)
	}
	return k
}

// strict sets additionalProperties: false on every object schema below v
// that lists properties and says nothing about other keys.
func strict(v any) {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["properties"].(map[string]any); ok {
			_, set := v["additionalProperties"]
			_, unknown := v["x-kubernetes-preserve-unknown-fields"]
			if !set && !unknown {
				v["additionalProperties"] = false
			}
		}
		for _, c := range v {
			strict(c)
		}
	case []any:
		for _, c := range v {
			strict(c)
		}
	}
}

// validate checks obj (decoded from YAML) against the schema of its
// apiVersion and kind.
func (k *kubeSchemas) validate(obj map[string]any) error {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	name, ok := k.byKind[apiVersion+" "+kind]
	if !ok {
		return fmt.Errorf("no vendored schema for apiVersion %q kind %q: add its root to %s's extract.go and run it", apiVersion, kind, filepath.Dir(schemasPath))
	}
	sch, err := k.compiler.Compile(schemasURL + "#/components/schemas/" + name)
	if err != nil {
		return fmt.Errorf("compile %s: %w", name, err)
	}
	// The validator wants values as encoding/json decodes them.
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// loadManifest returns the objects of a multi-document YAML file.
func loadManifest(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var objs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: %v", manifestPath, err)
		}
		if obj != nil {
			objs = append(objs, obj)
		}
	}
}

// TestKubernetesSchema: every object of deploy/kubernetes/tidemark.yaml is
// valid against the Kubernetes schema of its kind, strictly.
func TestKubernetesSchema(t *testing.T) {
	k := loadKubeSchemas(t)
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	objs := loadManifest(t, data)
	var kinds []string
	for _, obj := range objs {
		kinds = append(kinds, fmt.Sprint(obj["kind"]))
		if err := k.validate(obj); err != nil {
			t.Errorf("%s %v: %v", obj["kind"], obj["metadata"], err)
		}
	}
	if !slices.Equal(kinds, []string{"ConfigMap", "Service", "StatefulSet"}) {
		t.Errorf("%s holds %q, want ConfigMap, Service, StatefulSet", manifestPath, kinds)
	}
}

// TestKubernetesSchemaRejects: the schema check can fail: mistakes a
// cluster would refuse or silently drop are caught.
func TestKubernetesSchemaRejects(t *testing.T) {
	k := loadKubeSchemas(t)
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ old, new, why, want string }{
		{"  replicas: 1\n", "  replicas: \"1\"\n", "replicas as a string", "at '/spec/replicas': got string, want integer"},
		{"          livenessProbe:\n", "          livenesProbe:\n", "a misspelt field", "additional properties 'livenesProbe' not allowed"},
		{"  serviceName: tidemark\n", "  serviceName: tidemark\n  replica: 1\n", "an unknown field of the spec", "additional properties 'replica' not allowed"},
		{"        - name: processor\n          image: tidemark:dev\n", "        - image: tidemark:dev\n", "a container without its required name", "missing property 'name'"},
		{"              containerPort: 8081\n", "              containerPort: http\n", "a port that is not a number", "containerPort': got string, want integer"},
		{"apiVersion: apps/v1\nkind: StatefulSet\n", "apiVersion: apps/v1\nkind: StatefulSets\n", "an unknown kind", `no vendored schema for apiVersion "apps/v1" kind "StatefulSets"`},
	} {
		if !bytes.Contains(data, []byte(c.old)) {
			t.Fatalf("%s has no %q", manifestPath, c.old)
		}
		objs := loadManifest(t, bytes.Replace(data, []byte(c.old), []byte(c.new), 1))
		var errs []error
		for _, obj := range objs {
			errs = append(errs, k.validate(obj))
		}
		if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: the manifest with %q replaced by %q: error %v, want one saying %q", c.why, c.old, c.new, err, c.want)
		}
	}
}

// get walks obj along path: a string is a map key, an int a list index.
func get(t *testing.T, obj any, path ...any) any {
	t.Helper()
	cur := obj
	for i, p := range path {
		switch p := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map at %v", path, path[:i])
			}
			cur = m[p]
		case int:
			l, ok := cur.([]any)
			if !ok || p >= len(l) {
				t.Fatalf("%v: no item %d at %v", path, p, path[:i])
			}
			cur = l[p]
		}
	}
	return cur
}

func str(t *testing.T, obj any, path ...any) string {
	t.Helper()
	s, _ := get(t, obj, path...).(string)
	return s
}

func num(t *testing.T, obj any, path ...any) int {
	t.Helper()
	n, _ := get(t, obj, path...).(int)
	return n
}

// byName returns the item of the list at path whose name is name.
func byName(t *testing.T, obj any, name string, path ...any) map[string]any {
	t.Helper()
	l, _ := get(t, obj, path...).([]any)
	for _, it := range l {
		if m, ok := it.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	t.Fatalf("%v has no item named %q", path, name)
	return nil
}

// TestKubernetesManifest checks that the pieces of the manifest fit
// together and fit the image: one replica, the state on a claim of the
// StatefulSet, the ConfigMap (configs/production.yaml, verbatim) mounted
// where the image's command reads it and valid with the container's
// environment, state.dir on the state volume, the probes on /healthz and
// /readyz at http.listen's port, the image's user.
func TestKubernetesManifest(t *testing.T) {
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	objs := loadManifest(t, data)
	find := func(kind string) map[string]any {
		for _, o := range objs {
			if o["kind"] == kind {
				return o
			}
		}
		t.Fatalf("%s has no %s", manifestPath, kind)
		return nil
	}
	cm, svc, sts := find("ConfigMap"), find("Service"), find("StatefulSet")
	d := loadDockerfile(t)

	if n := num(t, sts, "spec", "replicas"); n != 1 {
		t.Errorf("replicas %d, want 1 (one processor per job)", n)
	}
	if p := str(t, sts, "spec", "podManagementPolicy"); p != "OrderedReady" {
		t.Errorf("podManagementPolicy %q, want OrderedReady (Parallel may start a pod before the old one is gone)", p)
	}
	if str(t, sts, "spec", "serviceName") != str(t, svc, "metadata", "name") {
		t.Errorf("serviceName %q is not the Service %q", str(t, sts, "spec", "serviceName"), str(t, svc, "metadata", "name"))
	}
	labels, _ := get(t, sts, "spec", "template", "metadata", "labels").(map[string]any)
	for _, sel := range []map[string]any{
		get(t, sts, "spec", "selector", "matchLabels").(map[string]any),
		get(t, svc, "spec", "selector").(map[string]any),
	} {
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("selector %s=%v does not match the pod's labels %v", k, v, labels)
			}
		}
	}
	if g := num(t, sts, "spec", "template", "spec", "terminationGracePeriodSeconds"); g < 60 {
		t.Errorf("terminationGracePeriodSeconds %d: give the final checkpoint at least 60 s", g)
	}
	pod := get(t, sts, "spec", "template", "spec")
	ctr := byName(t, pod, "processor", "containers")

	// The image's command and user.
	if args := get(t, ctr, "args"); args != nil {
		var got []string
		for _, a := range args.([]any) {
			got = append(got, fmt.Sprint(a))
		}
		if !slices.Equal(got, d.cmd) {
			t.Errorf("container args %q, want the image's CMD %q (or none)", got, d.cmd)
		}
	}
	uid, gid, _ := strings.Cut(d.user, ":")
	if strconv.Itoa(num(t, pod, "securityContext", "runAsUser")) != uid || strconv.Itoa(num(t, pod, "securityContext", "runAsGroup")) != gid ||
		strconv.Itoa(num(t, pod, "securityContext", "fsGroup")) != gid || get(t, pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("pod securityContext %v, want runAsNonRoot and the image's user %s, fsGroup %s", get(t, pod, "securityContext"), d.user, gid)
	}

	// Volumes: the ConfigMap where --config points, the state claim on the
	// image's volume, /tmp writable with a read-only root.
	mounts := map[string]map[string]any{} // mountPath -> mount
	for _, m := range get(t, ctr, "volumeMounts").([]any) {
		m := m.(map[string]any)
		mounts[m["mountPath"].(string)] = m
	}
	configPath := d.cmd[len(d.cmd)-1]
	cfgMount := mounts[filepath.Dir(configPath)]
	if cfgMount == nil {
		t.Fatalf("nothing mounted at %s, the directory of the image's --config %s", filepath.Dir(configPath), configPath)
	}
	cfgVol := byName(t, pod, cfgMount["name"].(string), "volumes")
	if str(t, cfgVol, "configMap", "name") != str(t, cm, "metadata", "name") {
		t.Errorf("volume %v at %s is not the ConfigMap %s", cfgVol, cfgMount["mountPath"], str(t, cm, "metadata", "name"))
	}
	cfgText, ok := get(t, cm, "data", filepath.Base(configPath)).(string)
	if !ok {
		t.Fatalf("the ConfigMap has no key %s", filepath.Base(configPath))
	}
	prod, err := os.ReadFile("../configs/production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfgText != string(prod) {
		t.Errorf("the ConfigMap's %s differs from configs/production.yaml: copy it over", filepath.Base(configPath))
	}
	stateMount := mounts[d.volumes[0]]
	if stateMount == nil {
		t.Fatalf("nothing mounted at the image's volume %s", d.volumes[0])
	}
	claimed := false
	for _, c := range get(t, sts, "spec", "volumeClaimTemplates").([]any) {
		claimed = claimed || str(t, c, "metadata", "name") == stateMount["name"]
	}
	if !claimed {
		t.Errorf("the volume %v at %s is not a volumeClaimTemplate of the StatefulSet", stateMount["name"], d.volumes[0])
	}
	if get(t, ctr, "securityContext", "readOnlyRootFilesystem") == true {
		if m := mounts["/tmp"]; m == nil || get(t, byName(t, pod, m["name"].(string), "volumes"), "emptyDir") == nil {
			t.Errorf("a read-only root file system needs an emptyDir at /tmp")
		}
	}

	// The configuration with the container's environment.
	env := map[string]string{}
	for _, e := range get(t, ctr, "env").([]any) {
		e := e.(map[string]any)
		name := e["name"].(string)
		if v, ok := e["value"].(string); ok {
			env[name] = v
		} else if ref := get(t, e, "valueFrom", "secretKeyRef"); ref != nil {
			env[name] = "secret:" + str(t, ref, "name") + "/" + str(t, ref, "key")
		}
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if !strings.HasPrefix(env[k], "secret:") {
			t.Errorf("%s is not taken from a Secret (%q)", k, env[k])
		}
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)`).FindAllStringSubmatch(commentless(cfgText), -1) {
		if _, ok := env[m[1]]; !ok {
			t.Errorf("the container does not set ${%s}, which the configuration reads", m[1])
		}
	}
	cfg, err := config.Parse(configPath, []byte(cfgText), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("the ConfigMap's configuration with the container's environment: %v", err)
	}
	if !within(cfg.State.Dir, d.volumes[0]) {
		t.Errorf("state.dir %s is not on the state volume %s", cfg.State.Dir, d.volumes[0])
	}

	// HTTP: the port of http.listen, named http, probed on /healthz and
	// /readyz, and served by the Service.
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil || host != "" && host != "0.0.0.0" {
		t.Fatalf("http.listen %q: want :PORT, reachable from outside the container (%v)", cfg.HTTP.Listen, err)
	}
	if p := byName(t, ctr, "http", "ports"); strconv.Itoa(p["containerPort"].(int)) != port {
		t.Errorf("containerPort http %v, http.listen's port is %s", p["containerPort"], port)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if str(t, ctr, probe, "httpGet", "path") != path || get(t, ctr, probe, "httpGet", "port") != "http" {
			t.Errorf("%s %v, want httpGet %s on port http", probe, get(t, ctr, probe), path)
		}
	}
	if sp := byName(t, svc, "http", "spec", "ports"); sp["targetPort"] != "http" {
		t.Errorf("Service port %v does not target the container port http", sp)
	}
}

// commentless returns YAML text without its comment lines.
func commentless(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
