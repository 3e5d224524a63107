package embedded_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/logging"
)

// childEnv makes the test binary act as the broker process (the
// processor's embedded-broker command) for the Spawn tests.
const childEnv = "TIDEMARK_EMBEDDED_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(serveChild())
	}
	os.Exit(m.Run())
}

func serveChild() int {
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	var o embedded.Options
	fs.StringVar(&o.DataDir, embedded.FlagDataDir, "", "")
	fs.StringVar(&o.Listen, embedded.FlagListen, "", "")
	noWait := fs.Bool(embedded.FlagNoWait, false, "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	log, err := logging.New(config.Log{Level: "debug", Format: "json"}, os.Stderr)
	if err != nil {
		return 2
	}
	o.Log = log
	if err := embedded.Serve(context.Background(), o, *noWait, os.Stdin, os.Stdout); err != nil && !(*noWait && errors.Is(err, embedded.ErrLocked)) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func childCommand(t *testing.T) []string {
	t.Helper()
	t.Setenv(childEnv, "1") // inherited by the child; the test itself is past TestMain
	return []string{os.Args[0]}
}

// A broker process serves until closed, records where it listens, and
// saves its data whole; a second one on the same data waits for the first
// (or says it is busy), and Attach finds the running one.
func TestSpawn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := childCommand(t)
	dir := filepath.Join(t.TempDir(), "kafka")
	o := embedded.Options{DataDir: dir, Listen: "127.0.0.1:0", Log: zaptest.NewLogger(t)}
	p, err := embedded.Spawn(ctx, cmd, o, true)
	if err != nil {
		t.Fatal(err)
	}
	info, err := embedded.ReadInfo(dir)
	if err != nil || info.State != embedded.StateRunning || info.Address != p.Addrs()[0] {
		t.Errorf("lock file of a running broker: %+v, %v; it listens at %v", info, err, p.Addrs())
	}
	if err := embedded.EnsureTopicsAt(ctx, p.Addrs(), 2, "t"); err != nil {
		t.Fatal(err)
	}

	if _, err := embedded.Spawn(ctx, cmd, o, false); !errors.Is(err, embedded.ErrLocked) {
		t.Errorf("a second broker without waiting: %v, want ErrLocked", err)
	}
	addrs, own, err := embedded.Attach(ctx, cmd, dir, zaptest.NewLogger(t))
	if err != nil || own != nil || strings.Join(addrs, ",") != info.Address {
		t.Errorf("Attach to a running broker: %v, own %v, %v", addrs, own, err)
	}
	if _, err := embedded.Start(ctx, o); !errors.Is(err, embedded.ErrLocked) {
		t.Errorf("an in-process broker on a used data dir: %v, want ErrLocked", err)
	}

	// A waiting second broker starts once the first one stopped.
	second := make(chan error, 1)
	var p2 *embedded.Process
	go func() {
		var err error
		p2, err = embedded.Spawn(ctx, cmd, o, true)
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("the second broker did not wait for the first: %v", err)
	case <-time.After(300 * time.Millisecond): // it waits, as it should
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatalf("the second broker: %v", err)
	}
	defer p2.Close()
	// The topic survived the first broker: it saved its data.
	if err := embedded.EnsureTopicsAt(ctx, p2.Addrs(), 2, "t"); err != nil {
		t.Fatal(err)
	}
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}
	if info, err := embedded.ReadInfo(dir); err != nil || info.State != embedded.StateStopped {
		t.Errorf("lock file of a closed broker: %+v, %v", info, err)
	}

	// Attach with nothing running starts its own broker on the data.
	addrs, own, err = embedded.Attach(ctx, cmd, dir, zaptest.NewLogger(t))
	if err != nil || own == nil {
		t.Fatalf("Attach with no broker running: %v, own %v, %v", addrs, own, err)
	}
	if err := own.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := embedded.Attach(ctx, cmd, filepath.Join(t.TempDir(), "none"), zaptest.NewLogger(t)); !errors.Is(err, embedded.ErrNoData) {
		t.Errorf("Attach without data: %v, want ErrNoData", err)
	}
}

// Serve stops, saving the broker's data, when its input ends (its parent
// closed it or died), also while it waits for the data dir's lock.
func TestServeStopsAtEOF(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "kafka")
	o := embedded.Options{DataDir: dir, Listen: "127.0.0.1:0", Log: zaptest.NewLogger(t)}
	serve := func() (io.WriteCloser, *io.PipeReader, chan error) {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := embedded.Serve(ctx, o, false, inR, outW)
			outW.Close()
			done <- err
		}()
		return inW, outR, done
	}
	in, out, done := serve()
	line := make([]byte, 64)
	n, err := out.Read(line)
	if err != nil || !strings.HasPrefix(string(line[:n]), "listening 127.0.0.1:") {
		t.Fatalf("Serve said %q, %v", line[:n], err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	in2, out2, done2 := serve() // waits for the lock
	go func() { _, _ = io.Copy(io.Discard, out2) }()
	in2.Close()
	if err := <-done2; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve waiting for the lock, input closed: %v, want context.Canceled", err)
	}

	in.Close()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if info, err := embedded.ReadInfo(dir); err != nil || info.State != embedded.StateStopped {
		t.Errorf("lock file after Serve: %+v, %v", info, err)
	}
}
