package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/internal/config"
)

// compose is the part of a compose file these tests read.
type compose struct {
	Name     string             `yaml:"name"`
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image string `yaml:"image"`
	Build struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Entrypoint  []string `yaml:"entrypoint"`
	Command     []string `yaml:"command"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// serviceKeys are the compose service keys this file may use; a misspelt key
// (which Docker would reject) fails the test instead of being ignored.
var serviceKeys = []string{
	"build", "command", "depends_on", "entrypoint", "environment", "healthcheck",
	"hostname", "image", "ports", "restart", "stop_grace_period", "volumes",
}

func loadCompose(t *testing.T) compose {
	t.Helper()
	data, err := os.ReadFile("docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatalf("docker-compose.yaml is not valid YAML: %v", err)
	}
	for name, keys := range raw.Services {
		for k := range keys {
			if !slices.Contains(serviceKeys, k) {
				t.Errorf("service %s: unexpected key %q (misspelt? add it to serviceKeys if meant)", name, k)
			}
		}
	}
	var c compose
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	for _, name := range []string{"kafka", "kafka-init", "minio", "minio-init", "processor"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("docker-compose.yaml has no service %q", name)
		}
	}
	return c
}

// interpolate replaces ${VAR:-default} with its default, as compose does with
// VAR unset, and $$ with $.
func interpolate(s string) string {
	s = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}`).ReplaceAllString(s, "$1")
	return strings.ReplaceAll(s, "$$", "$")
}

func env(s service) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		out[k] = interpolate(v)
	}
	return out
}

// dockerfile holds the instructions of the final stage of ../Dockerfile, and
// every RUN of any stage.
type dockerfile struct {
	runs                     []string
	entrypoint, cmd, volumes []string
	expose                   []string
	finalFrom, finalUser     string
}

func loadDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var d dockerfile
	var line string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(text, "#") || text == "" && line == "" {
			continue
		}
		if strings.HasSuffix(text, "\\") {
			line += strings.TrimSuffix(text, "\\") + " "
			continue
		}
		line += text
		instr, args, _ := strings.Cut(line, " ")
		line = ""
		jsonArgs := func() []string {
			var v []string
			if err := json.Unmarshal([]byte(args), &v); err != nil {
				t.Fatalf("Dockerfile: %s %s: want the JSON form: %v", instr, args, err)
			}
			return v
		}
		switch strings.ToUpper(instr) {
		case "FROM":
			d.finalFrom, d.finalUser = args, ""
		case "USER":
			d.finalUser = args
		case "RUN":
			d.runs = append(d.runs, args)
		case "ENTRYPOINT":
			d.entrypoint = jsonArgs()
		case "CMD":
			d.cmd = jsonArgs()
		case "VOLUME":
			d.volumes = jsonArgs()
		case "EXPOSE":
			d.expose = strings.Fields(args)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDockerfile checks the image's contract: built with `make build`, run as
// a non-root user, `processor run --config FILE`, a state volume, port 8081.
func TestDockerfile(t *testing.T) {
	d := loadDockerfile(t)
	if !slices.ContainsFunc(d.runs, func(r string) bool { return strings.HasSuffix(r, "make build") }) {
		t.Errorf("no RUN ... make build in the Dockerfile (RUNs: %q)", d.runs)
	}
	if d.finalUser == "" || strings.HasPrefix(d.finalUser, "0") || strings.HasPrefix(d.finalUser, "root") {
		t.Errorf("final stage (FROM %s) runs as %q, want a non-root USER", d.finalFrom, d.finalUser)
	}
	if !slices.Equal(d.entrypoint, []string{"processor"}) {
		t.Errorf("ENTRYPOINT %q, want [processor]", d.entrypoint)
	}
	if len(d.cmd) != 3 || d.cmd[0] != "run" || d.cmd[1] != "--config" {
		t.Errorf("CMD %q, want [run --config FILE]", d.cmd)
	}
	if !slices.Equal(d.volumes, []string{"/var/lib/tidemark"}) {
		t.Errorf("VOLUME %q, want [/var/lib/tidemark]", d.volumes)
	}
	if !slices.Equal(d.expose, []string{"8081"}) {
		t.Errorf("EXPOSE %q, want 8081", d.expose)
	}
}

// TestCompose checks that docker-compose.yaml runs the image as the
// Dockerfile and configs/production.yaml expect: the configuration mounted
// where CMD reads it, its variables pointing at the compose services, its
// topics and bucket created by the init services, the health check on
// /healthz at http.listen, the state directory on a volume.
func TestCompose(t *testing.T) {
	c := loadCompose(t)
	d := loadDockerfile(t)
	proc := c.Services["processor"]
	procEnv := env(proc)

	if proc.Build.Context == "" {
		t.Fatalf("processor has no build context")
	}
	if _, err := os.Stat(filepath.Join(proc.Build.Context, proc.Build.Dockerfile)); err != nil {
		t.Errorf("processor build: %v", err)
	}
	for svc, cond := range map[string]string{"kafka-init": "service_completed_successfully", "minio-init": "service_completed_successfully"} {
		if got := proc.DependsOn[svc].Condition; got != cond {
			t.Errorf("processor depends_on %s: condition %q, want %q", svc, got, cond)
		}
	}
	for svc, dep := range map[string]string{"kafka-init": "kafka", "minio-init": "minio"} {
		if got := c.Services[svc].DependsOn[dep].Condition; got != "service_healthy" {
			t.Errorf("%s depends_on %s: condition %q, want service_healthy", svc, dep, got)
		}
		if len(c.Services[dep].Healthcheck.Test) == 0 {
			t.Errorf("%s has no healthcheck, so %s cannot wait for it", dep, svc)
		}
	}

	// The configuration file and the state volume.
	mounts := map[string]string{} // target -> source
	for _, v := range proc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Fatalf("processor volume %q: want SOURCE:TARGET", v)
		}
		mounts[parts[1]] = parts[0]
	}
	configPath := d.cmd[len(d.cmd)-1]
	src, ok := mounts[configPath]
	if !ok {
		t.Fatalf("processor mounts nothing at %s, the Dockerfile's --config (mounts %v)", configPath, mounts)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("processor config mount: %v", err)
	}
	if filepath.Base(src) != "production.yaml" {
		t.Errorf("processor mounts %s, want configs/production.yaml", src)
	}
	for _, vol := range d.volumes {
		if name, ok := mounts[vol]; !ok || c.Volumes == nil || !hasKey(c.Volumes, name) {
			t.Errorf("processor: the Dockerfile's VOLUME %s is not a named volume of the compose file (mounts %v)", vol, mounts)
		}
	}

	// The configuration, with the variables the compose file sets.
	cfg, err := config.Parse(src, data, func(k string) (string, bool) {
		v, ok := procEnv[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("%s with the processor's environment: %v", src, err)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if procEnv[k] == "" {
			t.Errorf("processor: %s not set", k)
		}
	}
	if !slices.ContainsFunc(d.volumes, func(v string) bool { return within(cfg.State.Dir, v) }) {
		t.Errorf("state.dir %s is not on the image's volume %q", cfg.State.Dir, d.volumes)
	}

	// Kafka: the brokers are the kafka service's advertised listener, and
	// kafka-init creates every topic the job uses.
	kafkaEnv := env(c.Services["kafka"])
	for _, b := range cfg.Kafka.Brokers {
		if !strings.Contains(kafkaEnv["KAFKA_ADVERTISED_LISTENERS"], "://"+b) {
			t.Errorf("kafka.brokers %s is not among the kafka service's advertised listeners %q", b, kafkaEnv["KAFKA_ADVERTISED_LISTENERS"])
		}
	}
	for _, k := range []string{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"} {
		if kafkaEnv[k] != "1" {
			t.Errorf("kafka: %s = %q, want 1 on a single node", k, kafkaEnv[k])
		}
	}
	initCmd := strings.FieldsFunc(strings.Join(c.Services["kafka-init"].Command, " "), func(r rune) bool {
		return unicode.IsSpace(r) || r == ';' || r == '"' || r == '\''
	})
	for _, flag := range []string{"--create", "--if-not-exists"} {
		if !slices.Contains(initCmd, flag) {
			t.Errorf("kafka-init does not run kafka-topics.sh %s", flag)
		}
	}
	topics := append(slices.Clone(cfg.Source.Topics), cfg.Sink.Topic, cfg.DeadLetterTopic())
	for _, topic := range topics {
		if !slices.Contains(initCmd, topic) {
			t.Errorf("kafka-init does not create topic %s", topic)
		}
	}

	// S3: the endpoint is the minio service, and minio-init creates the
	// checkpoint bucket.
	u, err := url.Parse(cfg.S3.Endpoint)
	if err != nil || u.Hostname() != "minio" || !cfg.S3.PathStyle {
		t.Errorf("s3.endpoint %q (path_style %v), want http://minio:PORT with path_style", cfg.S3.Endpoint, cfg.S3.PathStyle)
	}
	su, err := url.Parse(cfg.Checkpoint.Storage)
	if err != nil || su.Scheme != "s3" {
		t.Fatalf("checkpoint.storage %q, want s3://BUCKET/PREFIX", cfg.Checkpoint.Storage)
	}
	if got := env(c.Services["minio-init"])["CHECKPOINT_BUCKET"]; got != su.Host {
		t.Errorf("minio-init creates bucket %q, checkpoint.storage uses %q", got, su.Host)
	}
	if !strings.Contains(strings.Join(c.Services["minio-init"].Command, " "), "mc mb") {
		t.Errorf("minio-init does not create a bucket (mc mb)")
	}

	// Health: /healthz on the port of http.listen, which the image exposes.
	_, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		t.Fatalf("http.listen %q: %v", cfg.HTTP.Listen, err)
	}
	if !slices.Contains(d.expose, port) {
		t.Errorf("http.listen port %s is not EXPOSEd (%q)", port, d.expose)
	}
	health := strings.Join(proc.Healthcheck.Test, " ")
	if !strings.Contains(health, ":"+port+"/healthz") {
		t.Errorf("processor healthcheck %q does not ask /healthz on port %s", health, port)
	}
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
