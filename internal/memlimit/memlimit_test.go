package memlimit

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCgroupLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
		err   string
	}{
		{"v2 in a namespace", map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "536870912\n"}, 512 << 20, ""},
		{"v2 max", map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "max\n"}, 0, ""},
		{"v2 nested, parent smaller", map[string]string{"proc/self/cgroup": "0::/a/b\n",
			"sys/fs/cgroup/a/b/memory.max": "1073741824\n", "sys/fs/cgroup/a/memory.max": "268435456\n"}, 256 << 20, ""},
		{"v1", map[string]string{"proc/self/cgroup": "4:memory:/pod/x\n0::/\n",
			"sys/fs/cgroup/memory/pod/x/memory.limit_in_bytes": "209715200\n"}, 200 << 20, ""},
		{"v1 unlimited", map[string]string{"proc/self/cgroup": "4:memory:/x\n",
			"sys/fs/cgroup/memory/x/memory.limit_in_bytes": "9223372036854771712\n"}, 0, ""},
		{"no files", map[string]string{"proc/self/cgroup": "0::/\n"}, 0, ""},
		{"not linux", map[string]string{}, 0, ""},
		{"garbage", map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "lots\n"}, 0, "not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for n, c := range tc.files {
				write(t, root, n, c)
			}
			got, _, err := CgroupLimit(root)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CgroupLimit = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestApply(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	root := t.TempDir()
	write(t, root, "proc/self/cgroup", "0::/\n")
	write(t, root, "sys/fs/cgroup/memory.max", "1000000000\n")

	r, err := apply("", 0, true, root)
	if err != nil || r.Source != FromCgroup || r.Limit != 900000000 || debug.SetMemoryLimit(-1) != 900000000 {
		t.Fatalf("from the cgroup: %+v, %v; runtime limit %d", r, err, debug.SetMemoryLimit(-1))
	}
	r, err = apply("", 300<<20, true, root)
	if err != nil || r.Source != FromConfig || r.Limit != 300<<20 || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Fatalf("from the configuration: %+v, %v", r, err)
	}
	debug.SetMemoryLimit(123 << 20)
	r, err = apply("123MiB", 300<<20, true, root)
	if err != nil || r.Source != FromEnv || r.Limit != 123<<20 {
		t.Fatalf("GOMEMLIMIT: %+v, %v", r, err)
	}
	debug.SetMemoryLimit(old)
	r, err = apply("", 0, false, root)
	if err != nil || r.Source != None || debug.SetMemoryLimit(-1) != old {
		t.Fatalf("off: %+v, %v", r, err)
	}
	if !strings.Contains(r.String(), "no memory limit") {
		t.Errorf("String() = %q", r.String())
	}
}

// TestDefaultWithoutContainer: with no GOMEMLIMIT, configuration or
// container limit, the limit is DefaultFloor.
func TestDefaultWithoutContainer(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	root := t.TempDir()
	write(t, root, "proc/self/cgroup", "0::/\n")
	write(t, root, "sys/fs/cgroup/memory.max", "max\n")
	r, err := apply("", 0, true, root)
	if err != nil || r.Source != Default || r.Limit != DefaultFloor || debug.SetMemoryLimit(-1) != DefaultFloor {
		t.Fatalf("no container limit: %+v, %v; runtime limit %d", r, err, debug.SetMemoryLimit(-1))
	}
	if !strings.Contains(r.String(), "by default") {
		t.Errorf("String() = %q", r.String())
	}
}

// TestFollowLimit: the followed limit is the floor until twice the live
// heap passes it, then twice the live heap rounded up to a MiB.
func TestFollowLimit(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int64
	}{
		{0, DefaultFloor},
		{30 << 20, DefaultFloor},
		{DefaultFloor / 2, DefaultFloor},
		{60 << 20, 120 << 20},
		{60<<20 + 1, 121 << 20},
		{1 << 30, 2 << 30},
	} {
		if got := followLimit(DefaultFloor, tc.live); got != tc.want {
			t.Errorf("followLimit(%d, %d) = %d, want %d", DefaultFloor, tc.live, got, tc.want)
		}
	}
}

// TestFollowEnds: Follow sets the runtime's limit and returns when its
// context ends.
func TestFollowEnds(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	debug.SetMemoryLimit(1 << 40)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Follow(ctx, 64<<20); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) == 1<<40 {
		if time.Now().After(deadline) {
			t.Fatal("Follow did not set the limit within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return within 10 s of its context ending")
	}
	if l := debug.SetMemoryLimit(-1); l < 64<<20 {
		t.Errorf("limit %d below the floor", l)
	}
}
