package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestCheckpointsCLIOnRealServices (issue 10.4): `processor checkpoints`
// works on checkpoints a processor wrote to the real S3 server, with no
// processor running: list names the checkpoint a start restores, inspect
// shows its offsets, verify (the recovery drill) passes, gc --dry-run
// deletes nothing, export copies it to a directory where verify passes
// again; and once a state file of it is overwritten in S3, verify fails
// with exit 1, naming the file.
func TestCheckpointsCLIOnRealServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	j := newChaosJob(t)
	prod := j.produce(ctx, 32, 400)
	p := j.start()
	j.waitRunning(ctx, p)
	waitFor(ctx, t, p, "two retained complete checkpoints", func() bool {
		n := 0
		for _, k := range j.s3Keys(ctx, "chk-") {
			if strings.HasSuffix(k, "/_metadata") {
				n++
			}
		}
		return n >= 2
	})
	prod.stop()
	j.stop(ctx, p)
	newest := j.newestCheckpoint(ctx)

	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+j.s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+j.s3.SecretKey)
	cli := func(want int, args ...string) string {
		t.Helper()
		out, err := runCmd(ctx, time.Minute, j.bin, env, append([]string{"checkpoints"}, append(args, "--config", j.config)...)...)
		code := 0
		if err != nil {
			code = -1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
		}
		if code != want {
			t.Fatalf("processor checkpoints %s: exit %d (%v), want %d:\n%s", strings.Join(args, " "), code, err, want, out)
		}
		return out
	}

	var l struct {
		Checkpoints []struct {
			Name  string `json:"name"`
			Valid bool   `json:"valid"`
		} `json:"checkpoints"`
		Restore string `json:"restore"`
	}
	out := cli(0, "list", "--json")
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("list --json: %v:\n%s", err, out)
	}
	if l.Restore != fmt.Sprint(newest) || len(l.Checkpoints) == 0 {
		t.Fatalf("list --json restores %q of %d checkpoints, want %d:\n%s", l.Restore, len(l.Checkpoints), newest, out)
	}
	for _, c := range l.Checkpoints {
		if !c.Valid {
			t.Errorf("list: checkpoint %s not valid:\n%s", c.Name, out)
		}
	}
	if out := cli(0, "inspect"); !strings.Contains(out, j.in) {
		t.Errorf("inspect does not show the offsets of input topic %s:\n%s", j.in, out)
	}
	t.Logf("verify:\n%s", cli(0, "verify"))
	before := j.s3Keys(ctx, "")
	cli(0, "gc", "--dry-run")
	if after := j.s3Keys(ctx, ""); len(after) != len(before) {
		t.Errorf("gc --dry-run changed the storage: %d keys before, %d after", len(before), len(after))
	}
	dir := t.TempDir()
	cli(0, "export", "--to", dir, "--name", "copy")
	out, err := runCmd(ctx, time.Minute, j.bin, env, "checkpoints", "verify", "savepoints/copy", "--storage", "file://"+dir, "--job", j.name)
	if err != nil {
		t.Fatalf("verify of the export: %v:\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, j.name, "savepoints", "copy", "_metadata")); err != nil {
		t.Errorf("the export has no metadata: %v", err)
	}

	// Damage the shared state files (the newest checkpoint references
	// some of them): the drill must fail, naming one.
	victims := j.s3Keys(ctx, "shared/")
	if len(victims) == 0 {
		t.Fatal("no shared state file in storage")
	}
	for _, v := range victims {
		_, err = j.s3.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(j.s3.Bucket),
			Key: aws.String(j.prefix + "/" + j.name + "/" + v), Body: strings.NewReader("not the file")})
		if err != nil {
			t.Fatal(err)
		}
	}
	out = cli(1, "verify")
	named := false
	for _, v := range victims {
		named = named || strings.Contains(out, filepath.Base(v))
	}
	if !named {
		t.Errorf("verify fails without naming a damaged file (%d damaged):\n%s", len(victims), out)
	}
}
