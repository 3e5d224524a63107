package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/integration/testenv"
)

// podman runs podman with the project's configuration (deploy/container.sh).
type podman struct {
	t    *testing.T
	root string // the repository
	conf string // CONTAINERS_CONF
}

// setupPodman installs podman and runc when missing and writes the
// configuration, as `make integration` does before the tests: a machine
// where that fails fails the test (it never skips).
func setupPodman(t *testing.T) *podman {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	script := filepath.Join(root, "deploy", "container.sh")
	if out, err := exec.Command("bash", script, "install").CombinedOutput(); err != nil {
		t.Fatalf("bash deploy/container.sh install: %v\n%s", err, out)
	}
	out, err := exec.Command("bash", script, "env").Output()
	if err != nil {
		t.Fatalf("bash deploy/container.sh env: %v", err)
	}
	conf, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "export CONTAINERS_CONF=")
	if !ok || conf == "" {
		t.Fatalf("bash deploy/container.sh env printed %q, want export CONTAINERS_CONF=FILE", out)
	}
	return &podman{t: t, root: root, conf: conf}
}

func (p *podman) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command("podman", args...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	return cmd
}

// run runs podman and returns its standard output; it fails the test if
// podman fails.
func (p *podman) run(args ...string) string {
	p.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := p.cmd(args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// cleanup runs podman at the end of the test, whatever happened; a failure
// is logged (the test may have failed before creating the object).
func (p *podman) cleanup(args ...string) {
	p.t.Cleanup(func() {
		if out, err := p.cmd(args...).CombinedOutput(); err != nil {
			p.t.Logf("cleanup: podman %s: %v: %s", strings.Join(args, " "), err, out)
		}
	})
}

// imageConfig is the part of `podman image inspect` the test reads.
type imageConfig struct {
	Os     string `json:"Os"`
	Config struct {
		User         string              `json:"User"`
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		Volumes      map[string]struct{} `json:"Volumes"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		StopSignal   string              `json:"StopSignal"`
	} `json:"Config"`
}

// checkImage checks the image's configuration and its files: nothing but
// the static binary, the CA certificates, /etc/passwd and /etc/group with
// the non-root user, and the directories the Dockerfile names.
func checkImage(t *testing.T, pm *podman, image string) {
	t.Helper()
	var inspect []imageConfig
	if err := json.Unmarshal([]byte(pm.run("image", "inspect", image)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect %s: %v", image, err)
	}
	cfg := inspect[0].Config
	if inspect[0].Os != "linux" || cfg.User != "65532:65532" || !slices.Equal(cfg.Entrypoint, []string{"processor"}) ||
		!slices.Equal(cfg.Cmd, []string{"run", "--config", "/etc/tidemark/tidemark.yaml"}) || cfg.StopSignal != "SIGTERM" {
		t.Errorf("image config: %+v (os %s), want user 65532:65532, entrypoint [processor], cmd [run --config /etc/tidemark/tidemark.yaml], stop signal SIGTERM", cfg, inspect[0].Os)
	}
	if _, ok := cfg.Volumes["/var/lib/tidemark"]; !ok || len(cfg.Volumes) != 1 {
		t.Errorf("image volumes %v, want /var/lib/tidemark", cfg.Volumes)
	}
	if _, ok := cfg.ExposedPorts["8081/tcp"]; !ok {
		t.Errorf("image exposes %v, want 8081/tcp", cfg.ExposedPorts)
	}

	name := "tidemark-files-" + randomSuffix(t)
	pm.cleanup("rm", "--force", "--ignore", "--volumes", name)
	pm.run("create", "--name", name, image)
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	pm.run("export", "--output", tarPath, name)
	tf, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	files := map[string][]byte{}
	var dirs []string
	tr := tar.NewReader(tf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("podman export %s: %v", name, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			dirs = append(dirs, fmt.Sprintf("%s %o %d:%d", strings.TrimSuffix(h.Name, "/"), h.Mode&0o7777, h.Uid, h.Gid))
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = data
		default:
			t.Errorf("image holds %s (type %c): want only files and directories", h.Name, h.Typeflag)
		}
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt", "usr/local/bin/processor"}
	if !slices.Equal(names, want) {
		t.Errorf("image files %q, want %q (a scratch image: no shell, no libc)", names, want)
	}
	for _, d := range []string{"var/lib/tidemark 755 65532:65532", "tmp 1777 0:0", "etc/tidemark 755 0:0"} {
		if !slices.Contains(dirs, d) {
			t.Errorf("image has no directory %q (mode, owner); it has %q", d, dirs)
		}
	}
	if !slices.Contains(strings.Split(string(files["etc/passwd"]), "\n"), "tidemark:x:65532:65532:Tidemark processor:/var/lib/tidemark:/sbin/nologin") {
		t.Errorf("/etc/passwd has no user tidemark with uid 65532:\n%s", files["etc/passwd"])
	}
	if !strings.Contains(string(files["etc/group"]), "tidemark:x:65532:") {
		t.Errorf("/etc/group has no group tidemark with gid 65532:\n%s", files["etc/group"])
	}
	certs, rest := 0, files["etc/ssl/certs/ca-certificates.crt"]
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			t.Errorf("CA bundle: %v", err)
		}
		certs++
	}
	if certs < 50 {
		t.Errorf("CA bundle holds %d certificates, want a system bundle (Debian's ca-certificates)", certs)
	}
	bin, err := elf.NewFile(bytes.NewReader(files["usr/local/bin/processor"]))
	if err != nil {
		t.Fatalf("usr/local/bin/processor: %v", err)
	}
	for _, prog := range bin.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			t.Errorf("usr/local/bin/processor is dynamically linked (%v): want CGO_ENABLED=0", prog.Type)
		}
	}
	t.Logf("image %s: %d files, %d CA certificates, static binary of %d MB, user %s", image, len(files), certs, len(files["usr/local/bin/processor"])>>20, cfg.User)
}

func randomSuffix(t *testing.T) string {
	n := testenv.UniqueName(t, "")
	return strings.ToLower(n[strings.LastIndexByte(n, '-')+1:])
}

// startContainer runs the image in the foreground as j's next run: host
// network, the job's configuration mounted read-only where the image's
// command reads it, state on the named volume, more podman run flags.
func (j *chaosJob) startContainer(pm *podman, image, name, volume string, flags ...string) *process {
	j.t.Helper()
	pm.cleanup("rm", "--force", "--ignore", "--volumes", name)
	args := append([]string{"run", "--name", name, "--network", "host",
		"--volume", volume + ":/var/lib/tidemark",
		"--volume", j.config + ":/etc/tidemark/tidemark.yaml:ro",
		"--env", "AWS_ACCESS_KEY_ID=" + j.s3.AccessKey, "--env", "AWS_SECRET_ACCESS_KEY=" + j.s3.SecretKey,
	}, flags...)
	return j.startCmd(pm.cmd(append(args, image)...))
}

// logCheckpoint returns the checkpoint field of the first line of p's log
// whose message is msg (0 if none).
func logCheckpoint(p *process, msg string) int64 {
	data, _ := os.ReadFile(p.logPath)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg        string `json:"msg"`
			Checkpoint int64  `json:"checkpoint"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == msg {
			return l.Checkpoint
		}
	}
	return 0
}

// latestCheckpoint returns the id of the newest completed checkpoint that
// GET /api/v1/checkpoints at addr reports (0 if none or no answer).
func latestCheckpoint(addr string) int64 {
	code, body := httpGet("http://" + addr + "/api/v1/checkpoints")
	var r struct {
		Latest *struct {
			ID int64 `json:"id"`
		} `json:"latest_completed"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.Latest == nil {
		return 0
	}
	return r.Latest.ID
}

// committedOutput returns how many records of topic a read_committed
// consumer gets in its first fetches with data (0 if none within 20 s).
func committedOutput(ctx context.Context, t *testing.T, k testenv.KafkaEnv, topic string) int {
	t.Helper()
	cl := k.Client(t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(tp string, p int32, err error) {
			if ctx.Err() == nil {
				t.Fatalf("consume %s[%d]: %v", tp, p, err)
			}
		})
		if n := fs.NumRecords(); n > 0 {
			return n
		}
	}
	return 0
}

// TestContainerImage (issue 10.5): the image `make image` builds (FROM
// scratch, the static binary, CA certificates, a non-root user) runs the
// job with --network host on the real broker and S3 server, its
// configuration mounted, its state on a named volume. It serves /healthz,
// /readyz and the checkpoint API and commits output; `podman stop` sends
// SIGTERM and the container exits 0 after a final checkpoint; a new
// container on the same volume restores that checkpoint and carries on,
// every count written exactly once. The second container runs with a
// read-only root file system, as the Kubernetes manifest asks.
func TestContainerImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	pm := setupPodman(t)
	k := testenv.Kafka(t)
	_ = testenv.S3(t) // fail before building the image if a service is missing
	suffix := randomSuffix(t)
	image := "localhost/tidemark-test:" + suffix
	pm.cleanup("rmi", "--force", image)
	build := exec.CommandContext(ctx, "make", "--no-print-directory", "image", "IMAGE="+image)
	build.Dir = pm.root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("make image %s: %v", image, time.Since(start).Round(time.Millisecond))
	checkImage(t, pm, image)

	// The chaos job's configuration, with the state on the container's
	// volume and the HTTP API on a free port.
	j := newChaosJob(t)
	addr := freeAddr(t)
	j.config = j.variant("container", "interval: 300ms", "interval: 500ms",
		"dir: "+filepath.Join(j.dir, "state"), "dir: /var/lib/tidemark/state",
		`listen: ""`, fmt.Sprintf("listen: %q", addr))
	// Readable by the image's user (uid 65532); it holds no secret.
	if err := os.Chmod(j.config, 0o644); err != nil {
		t.Fatal(err)
	}
	volume := "tidemark-test-" + suffix
	pm.run("volume", "create", volume)
	pm.cleanup("volume", "rm", "--force", volume)

	prod := j.produce(ctx, 32, 1000)
	first := j.startContainer(pm, image, "tidemark-test-1-"+suffix, volume)
	j.waitRunning(ctx, first)
	waitFor(ctx, t, first, "/healthz and /readyz from the container", func() bool {
		h, _ := httpGet("http://" + addr + "/healthz")
		r, _ := httpGet("http://" + addr + "/readyz")
		return h == http.StatusOK && r == http.StatusOK
	})
	waitFor(ctx, t, first, "three completed checkpoints in /api/v1/checkpoints", func() bool { return latestCheckpoint(addr) >= 3 })
	// The container's output is committed: read_committed sees it.
	if n := committedOutput(ctx, t, k, j.out); n == 0 {
		t.Fatal("no committed output")
	}
	if top := pm.run("top", "tidemark-test-1-"+suffix, "user", "huser"); !strings.Contains(top, "tidemark") {
		t.Errorf("the processor does not run as the image's user tidemark:\n%s", top)
	}

	// SIGTERM: a final checkpoint, exit 0.
	stopped := time.Now()
	pm.run("stop", "--time", "60", "tidemark-test-1-"+suffix)
	if err := j.waitExit(ctx, first); err != nil {
		t.Fatalf("the container exited with %v after SIGTERM:\n%s", err, first.tail(30))
	}
	if code := strings.TrimSpace(pm.run("inspect", "--format", "{{.State.ExitCode}}", "tidemark-test-1-"+suffix)); code != "0" {
		t.Fatalf("container exit code %s after SIGTERM, want 0:\n%s", code, first.tail(30))
	}
	final := logCheckpoint(first, "final checkpoint complete and committed")
	if final == 0 {
		t.Fatalf("no final checkpoint logged after SIGTERM:\n%s", first.tail(30))
	}
	if newest := j.newestCheckpoint(ctx); newest != final {
		t.Fatalf("newest checkpoint in storage %d, the final checkpoint was %d", newest, final)
	}
	t.Logf("SIGTERM: final checkpoint %d, exit 0 after %v", final, time.Since(stopped).Round(time.Millisecond))

	// A new container on the same volume restores it and carries on; this
	// one with a read-only root file system (a tmpfs on /tmp), as
	// deploy/kubernetes/tidemark.yaml runs it.
	second := j.startContainer(pm, image, "tidemark-test-2-"+suffix, volume, "--read-only", "--read-only-tmpfs")
	j.waitRunning(ctx, second)
	if got := logCheckpoint(second, "restoring from checkpoint"); got != final {
		t.Fatalf("the new container restored checkpoint %d, want the final checkpoint %d:\n%s", got, final, second.tail(30))
	}
	waitFor(ctx, t, second, "a checkpoint after the restored one", func() bool { return latestCheckpoint(addr) > final })
	want := prod.stop()
	j.verify(ctx, want)
	pm.run("stop", "--time", "60", "tidemark-test-2-"+suffix)
	if err := j.waitExit(ctx, second); err != nil {
		t.Fatalf("the second container exited with %v after SIGTERM:\n%s", err, second.tail(30))
	}
	// Anything written after verify would be a duplicate.
	total := 0
	for _, n := range want {
		total += n
	}
	if got := readAll(ctx, t, k, j.out, total); len(got) != total {
		t.Fatalf("output holds %d records after the stop, want %d (one per input record)", len(got), total)
	}
	t.Logf("container test: %v in all", time.Since(start).Round(time.Millisecond))
}
