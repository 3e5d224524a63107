package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables naming running services. `integration/services.sh
// env` prints them; when set, [Main] reuses those services.
const (
	EnvKafkaBrokers = "TIDEMARK_KAFKA_BROKERS" // comma-separated host:port list
	EnvS3Endpoint   = "TIDEMARK_S3_ENDPOINT"   // e.g. http://127.0.0.1:7070
	EnvS3Region     = "TIDEMARK_S3_REGION"     // default us-east-1
	EnvS3AccessKey  = "TIDEMARK_S3_ACCESS_KEY" // required with TIDEMARK_S3_ENDPOINT
	EnvS3SecretKey  = "TIDEMARK_S3_SECRET_KEY" // required with TIDEMARK_S3_ENDPOINT
	EnvS3Bucket     = "TIDEMARK_S3_BUCKET"     // required with TIDEMARK_S3_ENDPOINT
)

// startTimeout bounds one `services.sh start` of a service, a cold install
// (Maven download, versitygw build) included.
const startTimeout = 10 * time.Minute

// harness holds what [Main] set up for one test binary.
type harness struct {
	repoRoot string // "" if not found; rootErr says why
	rootErr  error
	runDir   string // private run dir for services started here

	mu      sync.Mutex
	started []string // services started by this binary, to stop at the end

	ctlMu sync.Mutex      // serialises restarts and kills (restart.go)
	down  map[string]bool // services killed and not restarted yet; ctlMu

	kafka, s3 service
}

// service is one lazily resolved service.
type service struct {
	once sync.Once
	vars map[string]string // TIDEMARK_* values
	err  error
}

var (
	current   *harness
	currentMu sync.Mutex
)

// Main runs the tests of m with the integration services available to
// [Kafka] and [S3], and stops the services it started itself. It returns the
// exit code for os.Exit. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
func Main(m *testing.M) int {
	h := &harness{}
	h.repoRoot, h.rootErr = findRepoRoot()
	if h.rootErr == nil {
		base := os.Getenv("TIDEMARK_RUN_DIR")
		if base == "" {
			base = filepath.Join(h.repoRoot, "integration", ".run")
		}
		h.runDir = filepath.Join(base, fmt.Sprintf("go-%s-%d", binName(), os.Getpid()))
	}
	currentMu.Lock()
	current = h
	currentMu.Unlock()

	code := m.Run()

	if err := h.stopAll(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: stopping services: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	h.mu.Lock()
	started := len(h.started) > 0
	h.mu.Unlock()
	if started {
		if code == 0 {
			_ = os.RemoveAll(h.runDir)
		} else {
			fmt.Fprintf(os.Stderr, "testenv: service logs kept in %s\n", h.runDir)
		}
	}
	return code
}

func getHarness(t testing.TB) *harness {
	t.Helper()
	currentMu.Lock()
	h := current
	currentMu.Unlock()
	if h == nil {
		t.Fatalf("testenv: the package's TestMain must call testenv.Main (func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) })")
	}
	return h
}

// get resolves a service once: from the environment if set, else by starting
// it. name is "kafka" or "s3"; fromEnv reports the values from the
// environment, or nil if the service is not configured there.
func (h *harness) get(s *service, name string, fromEnv func() (map[string]string, error), check func(map[string]string) error) (map[string]string, error) {
	s.once.Do(func() {
		vars, err := fromEnv()
		if err != nil {
			s.err = err
			return
		}
		if vars != nil {
			if err := check(vars); err != nil {
				s.err = fmt.Errorf("%s from the environment is not usable: %w", name, err)
			}
			s.vars = vars
			return
		}
		s.vars, s.err = h.start(name)
		if s.err == nil {
			if err := check(s.vars); err != nil {
				s.err = fmt.Errorf("%s started but is not usable: %w", name, err)
			}
		}
	})
	return s.vars, s.err
}

// start runs `services.sh start NAME` in the private run dir and reads the
// state file it writes.
func (h *harness) start(name string) (map[string]string, error) {
	if h.rootErr != nil {
		return nil, h.rootErr
	}
	h.mu.Lock()
	h.started = append(h.started, name) // stop even a half-started service
	h.mu.Unlock()
	begin := time.Now()
	fmt.Fprintf(os.Stderr, "testenv: starting %s (run dir %s)\n", name, h.runDir)
	out, err := h.script(startTimeout, "start", name)
	if err != nil {
		return nil, fmt.Errorf("integration/services.sh start %s failed: %w\n%s", name, err, out)
	}
	vars, err := readEnvFile(filepath.Join(h.runDir, name+".env"))
	if err != nil {
		return nil, fmt.Errorf("integration/services.sh start %s: %w\n%s", name, err, out)
	}
	fmt.Fprintf(os.Stderr, "testenv: %s ready in %v: %v\n", name, time.Since(begin).Round(100*time.Millisecond), vars)
	return vars, nil
}

func (h *harness) stopAll() error {
	h.mu.Lock()
	started := h.started
	h.mu.Unlock()
	if len(started) == 0 {
		return nil
	}
	out, err := h.script(2*time.Minute, append([]string{"stop"}, started...)...)
	if err != nil {
		return fmt.Errorf("integration/services.sh stop: %w\n%s", err, out)
	}
	return nil
}

// script runs integration/services.sh in the private run dir, with the
// watcher's owner set to this process.
func (h *harness) script(timeout time.Duration, args ...string) ([]byte, error) {
	return h.scriptIn(h.runDir, []string{fmt.Sprintf("TIDEMARK_OWNER_PID=%d", os.Getpid())}, timeout, args...)
}

// scriptIn runs integration/services.sh with TIDEMARK_RUN_DIR=runDir and the
// extra environment variables env, and returns its combined output.
func (h *harness) scriptIn(runDir string, env []string, timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(h.repoRoot, "integration", "services.sh")}, args...)...)
	cmd.Dir = h.repoRoot
	cmd.Env = append(append(os.Environ(), "TIDEMARK_RUN_DIR="+runDir), env...)
	// The script's background processes write to files, not to these
	// pipes, so Output returns when the script does.
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (timed out after %v)", err, timeout)
	}
	return buf.Bytes(), err
}

// findRepoRoot walks up from the working directory (go test runs in the
// package directory) and then from this source file to the directory that
// holds integration/services.sh.
func findRepoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			if _, err := os.Stat(filepath.Join(dir, "integration", "services.sh")); err == nil {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("testenv: cannot find integration/services.sh above %v; set %s (and the TIDEMARK_S3_* variables) to use running services", starts, EnvKafkaBrokers)
}

func binName() string {
	name := filepath.Base(os.Args[0])
	name = strings.TrimSuffix(name, ".test")
	var b strings.Builder
	for _, r := range name {
		if r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// readEnvFile reads KEY=VALUE lines.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && k != "" {
			vars[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(vars) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return vars, nil
}

// dialCheck fails unless every address accepts a TCP connection.
func dialCheck(addrs ...string) error {
	var errs []error
	for _, a := range addrs {
		c, err := net.DialTimeout("tcp", a, 5*time.Second)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.Close()
	}
	return errors.Join(errs...)
}
