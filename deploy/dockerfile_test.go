package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dockerfile holds the instructions of ../Dockerfile.
type dockerfile struct {
	froms, copies, runs      []string
	entrypoint, cmd, volumes []string
	expose                   []string
	user                     string
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
			d.froms = append(d.froms, args)
		case "COPY", "ADD":
			d.copies = append(d.copies, args)
		case "RUN":
			d.runs = append(d.runs, args)
		case "USER":
			d.user = args
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

// TestDockerfile checks the image's contract without building it (the
// integration test TestContainerImage builds and runs it): one stage FROM
// scratch, so that no base image is pulled, holding what `make image`
// prepares in bin/ (the static binary of `make build`, the files of
// `deploy/container.sh rootfs`), run as the non-root user whose passwd entry
// that script writes, `processor run --config FILE`, a state volume, port
// 8081.
func TestDockerfile(t *testing.T) {
	d := loadDockerfile(t)
	if !slices.Equal(d.froms, []string{"scratch"}) {
		t.Errorf("FROM %q, want one stage FROM scratch (no registry can be reached)", d.froms)
	}
	if len(d.runs) != 0 {
		t.Errorf("RUN %q: a scratch image has no shell", d.runs)
	}
	for _, c := range []string{"bin/rootfs/ /", "bin/processor /usr/local/bin/processor"} {
		if !slices.Contains(d.copies, c) {
			t.Errorf("no COPY %s (COPYs: %q)", c, d.copies)
		}
	}
	script, err := os.ReadFile("container.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "\nTIDEMARK_UID=65532\n") || d.user != "65532:65532" {
		t.Errorf("USER %q: want 65532:65532, the uid container.sh's passwd entry gives the user tidemark", d.user)
	}
	if !slices.Contains(d.copies, "--chown=65532:65532 bin/rootfs/var/lib/ /var/lib/") {
		t.Errorf("the state directory /var/lib/tidemark is not given to the user (COPYs: %q)", d.copies)
	}
	if !slices.Equal(d.entrypoint, []string{"processor"}) {
		t.Errorf("ENTRYPOINT %q, want [processor]", d.entrypoint)
	}
	if !slices.Equal(d.cmd, []string{"run", "--config", "/etc/tidemark/tidemark.yaml"}) {
		t.Errorf("CMD %q, want [run --config /etc/tidemark/tidemark.yaml]", d.cmd)
	}
	if !slices.Equal(d.volumes, []string{"/var/lib/tidemark"}) {
		t.Errorf("VOLUME %q, want [/var/lib/tidemark]", d.volumes)
	}
	if !slices.Equal(d.expose, []string{"8081"}) {
		t.Errorf("EXPOSE %q, want 8081", d.expose)
	}

	// The build context is only what the image holds.
	ignore, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			rules = append(rules, l)
		}
	}
	if !slices.Equal(rules, []string{"*", "!bin/processor", "!bin/rootfs"}) {
		t.Errorf(".dockerignore rules %q, want * !bin/processor !bin/rootfs", rules)
	}
	// The binary is the static one of `make build`.
	mk, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "\nbuild:\n\tCGO_ENABLED=0 $(GO) build -trimpath -ldflags \"-s -w\" -o bin/processor ./cmd/processor\n") {
		t.Error("the Makefile's build target is not CGO_ENABLED=0 go build ... -o bin/processor ./cmd/processor")
	}
	if !strings.Contains(string(mk), "\nimage: build\n\tbash deploy/container.sh image $(IMAGE)\n") {
		t.Error("the Makefile has no target image: build, running deploy/container.sh image")
	}
}
