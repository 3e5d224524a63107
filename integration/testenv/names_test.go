package testenv

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestUniqueName(t *testing.T) {
	t.Run("odd/chars and spaces", func(t *testing.T) {
		a, b := UniqueName(t, "tm"), UniqueName(t, "tm")
		if a == b {
			t.Fatalf("two names are equal: %s", a)
		}
		if !regexp.MustCompile(`^tm-TestUniqueName-odd-chars_and_spaces-[0-9a-f]{12}$`).MatchString(a) {
			t.Errorf("UniqueName = %q", a)
		}
	})
	t.Run(strings.Repeat("x", 300), func(t *testing.T) {
		if n := UniqueName(t, "tm"); len(n) > 249 {
			t.Errorf("name of %d bytes is too long for a topic", len(n))
		}
	})
}

func TestReadEnvFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s3.env")
	if err := os.WriteFile(p, []byte("A=1\nB=http://x:1/?q=2\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vars, err := readEnvFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if vars["A"] != "1" || vars["B"] != "http://x:1/?q=2" || len(vars) != 2 {
		t.Errorf("readEnvFile = %v", vars)
	}
}

func TestSplitBrokers(t *testing.T) {
	got := splitBrokers(" a:1, b:2,,")
	if len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Errorf("splitBrokers = %q", got)
	}
}
