package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/config"
)

// TestWebKeys: http.token and savepoints.* parse, default and are checked;
// the token comes from TIDEMARK_HTTP_TOKEN when http.token is empty.
func TestWebKeys(t *testing.T) {
	cfg, err := parse(t, minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Savepoints.Retained != 0 || cfg.Savepoints.MinInterval != 10*time.Second || cfg.HTTP.Token != "" {
		t.Errorf("defaults: %+v %+v", cfg.Savepoints, cfg.HTTP)
	}
	env := map[string]string{"TOKEN": "0123456789abcdef0123456789abcdef"}
	cfg, err = parse(t, minimal+"http:\n  listen: \":8081\"\n  token: ${TOKEN}\nsavepoints:\n  retained: 5\n  min_interval: 1m\n", env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Token != env["TOKEN"] || cfg.Savepoints.Retained != 5 || cfg.Savepoints.MinInterval != time.Minute {
		t.Errorf("parsed: %+v %+v", cfg.Savepoints, cfg.HTTP)
	}
	if tok, err := cfg.HTTP.BearerToken(func(string) string { return "from-the-environment-0123" }); err != nil || tok != env["TOKEN"] {
		t.Errorf("http.token wins over the environment: %q %v", tok, err)
	}
	_, err = parse(t, minimal+"http:\n  token: short\nsavepoints:\n  retained: -1\n  min_interval: -1s\n", nil)
	want := map[string]string{"http.token": "at least 16", "savepoints.retained": "must not be negative", "savepoints.min_interval": "must not be negative"}
	for _, p := range problems(t, err) {
		if says, ok := want[p.Key]; ok && strings.Contains(p.Msg, says) {
			delete(want, p.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("problems not reported: %v (got %v)", want, err)
	}

	var h config.HTTP
	env = map[string]string{config.TokenEnv: "0123456789abcdef"}
	if tok, err := h.BearerToken(func(k string) string { return env[k] }); err != nil || tok != env[config.TokenEnv] {
		t.Errorf("token from %s: %q %v", config.TokenEnv, tok, err)
	}
	env[config.TokenEnv] = "has a space in it, 0123456789"
	if _, err := h.BearerToken(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), config.TokenEnv) {
		t.Errorf("bad token from the environment: %v", err)
	}
	if tok, err := h.BearerToken(func(string) string { return "" }); tok != "" || err != nil {
		t.Errorf("no token: %q %v", tok, err)
	}
}
