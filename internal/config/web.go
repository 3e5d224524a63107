package config

import (
	"fmt"
	"strings"
	"time"
)

// The HTTP API's protection (http.token) and savepoint policy
// (savepoints.*).

// TokenEnv is the environment variable that gives the HTTP bearer token
// when http.token is empty.
const TokenEnv = "TIDEMARK_HTTP_TOKEN"

// MinTokenLength is the shortest bearer token accepted.
const MinTokenLength = 16

// Savepoints configures savepoints: how often the HTTP API takes them and
// how many are kept.
type Savepoints struct {
	// Retained is how many complete savepoints are kept in checkpoint
	// storage; older ones are deleted by the running job after each
	// savepoint and at start. Default 0: keep every savepoint. Partial
	// savepoints (a copy that failed or was cut short) are deleted
	// whatever this says.
	Retained int `yaml:"retained"`
	// MinInterval is the least time between the starts of two savepoints
	// asked through the HTTP API; a request sooner, or while one is being
	// taken, is refused with 429 and Retry-After (processor savepoint
	// waits and retries). A stop with a savepoint is never refused.
	// Default 10s; 0 allows them back to back (still one at a time).
	MinInterval time.Duration `yaml:"min_interval"`
}

// DefaultSavepoints is the default of the savepoints section.
func DefaultSavepoints() Savepoints { return Savepoints{MinInterval: 10 * time.Second} }

// BearerToken is the token the HTTP API's mutating endpoints require:
// http.token, else the environment variable TokenEnv (looked up with
// getenv); "" if neither is set. A token from the environment is checked
// as http.token is.
func (h HTTP) BearerToken(getenv func(string) string) (string, error) {
	if h.Token != "" {
		return h.Token, nil
	}
	t := getenv(TokenEnv)
	if t == "" {
		return "", nil
	}
	if msg := tokenProblem(t); msg != "" {
		return "", fmt.Errorf("config: %s %s", TokenEnv, msg)
	}
	return t, nil
}

func tokenProblem(t string) string {
	switch {
	case strings.ContainsAny(t, " \t\r\n"):
		return "must not contain spaces or line breaks"
	case len(t) < MinTokenLength:
		return fmt.Sprintf("must be at least %d characters long, got %d (generate one with: openssl rand -hex 32)", MinTokenLength, len(t))
	}
	return ""
}

func (c *Config) validateWeb(ps *problems) {
	if c.HTTP.Token != "" {
		if msg := tokenProblem(c.HTTP.Token); msg != "" {
			ps.add("http.token", 0, "%s", msg)
		}
	}
	if c.Savepoints.Retained < 0 {
		ps.add("savepoints.retained", 0, "must not be negative (0 keeps every savepoint), got %d", c.Savepoints.Retained)
	}
	if c.Savepoints.MinInterval < 0 {
		ps.add("savepoints.min_interval", 0, "must not be negative (0 allows savepoints back to back), got %s", c.Savepoints.MinInterval)
	}
}
