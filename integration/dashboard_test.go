package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds the browser the dashboard test drives:
// $TIDEMARK_CHROMIUM, else chromium (Debian's package) or Chrome on PATH.
// It fails the test when there is none: integration/chromium.sh installs
// it (the Makefile's integration target runs it first).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TIDEMARK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found for the dashboard's browser test: run `bash integration/chromium.sh` (installs Debian's chromium package) or set TIDEMARK_CHROMIUM")
	return ""
}

// testOutputDir is where a test leaves files for people to look at:
// $TIDEMARK_TEST_OUTPUT/<test name> if set (make integration sets it),
// else the test's artifact directory (kept with go test -artifacts).
func testOutputDir(t *testing.T) string {
	t.Helper()
	if root := os.Getenv("TIDEMARK_TEST_OUTPUT"); root != "" {
		dir := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.ArtifactDir()
}

// browser starts headless Chromium with a fresh profile and returns a
// chromedp context on a new tab; it is stopped at the end of the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1300),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancel()
		acancel()
	})
	// The first action starts the browser: without a timeout of its own,
	// which would end the browser with it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start headless Chromium (%s): %v; run `bash integration/chromium.sh`", chromiumPath(t), err)
	}
	return ctx
}

// dashboardReady is true once the page shows at least 3 completed
// checkpoints in its counters, its table and its duration chart, the job
// running and ready, a restore, and every source partition with its lag.
const dashboardReady = `(() => {
  const n = s => document.querySelectorAll(s).length;
  return document.getElementById("state").textContent === "running" &&
    document.getElementById("ready").textContent === "ready" &&
    Number(document.getElementById("completed-count").textContent) >= 3 &&
    n('#checkpoints tbody tr[data-status="completed"]') >= 3 &&
    n('#chart-duration rect.bar') >= 3 && n('#chart-size rect.bar') >= 3 &&
    document.getElementById("restore").textContent.includes("took") &&
    n('#sources tbody tr[data-topic]') === 4 &&
    [...document.querySelectorAll('#sources tbody tr[data-topic] td:nth-child(6)')].every(td => /^[0-9]+$/.test(td.textContent));
})()`

// TestDashboardInBrowser: the dashboard of a processor running on the real
// broker and S3 server, loaded in headless Chromium, shows the job
// running, its checkpoints (counters, table and charts) as the API reports
// them, the restore of the checkpoint its previous run stopped with, and
// each input partition's lag; it loads nothing from elsewhere. A
// screenshot is saved under the test's output directory.
func TestDashboardInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bctx := browser(t) // fails now, before anything else, without a browser
	j := newChaosJob(t)
	addr := withHTTP(t, j)
	prod := j.produce(ctx, 16, 300)
	defer prod.stop()

	// A first run that stops cleanly, so that the second restores its
	// final checkpoint.
	p1 := j.start()
	j.waitRunning(ctx, p1)
	waitFor(ctx, t, p1, "a first checkpoint", func() bool { st, ok := status(t, addr); return ok && st.Progress })
	j.stop(ctx, p1)
	final := j.newestCheckpoint(ctx)

	p := j.start()
	defer j.stop(ctx, p)
	j.waitRunning(ctx, p)
	base := "http://" + addr + "/"
	if err := chromedp.Do(bctx, chromedp.Navigate(base)); err != nil {
		t.Fatalf("load %s: %v", base, err)
	}
	pctx, pcancel := context.WithTimeout(bctx, 90*time.Second)
	defer pcancel()
	if _, err := chromedp.Run(pctx, chromedp.Poll[bool](dashboardReady, chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(80*time.Second))); err != nil {
		text, _ := chromedp.Run(bctx, chromedp.Evaluate[string]("document.body.innerText"))
		t.Fatalf("the dashboard never showed the running job's checkpoints (%v); it shows:\n%s\nprocessor log:\n%s", err, text, p.tail(20))
	}

	// What the page shows is what the API says.
	shown, err := chromedp.Run(bctx, chromedp.Evaluate[[]int64](`[...document.querySelectorAll('#checkpoints tbody tr[data-status="completed"]')].map(tr => Number(tr.dataset.id))`))
	if err != nil {
		t.Fatal(err)
	}
	code, body := httpGet(base + "api/v1/checkpoints")
	var api struct {
		History []struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		} `json:"history"`
	}
	if err := json.Unmarshal([]byte(body), &api); code != http.StatusOK || err != nil {
		t.Fatalf("GET /api/v1/checkpoints: %d %v", code, err)
	}
	completed := map[int64]bool{}
	for _, c := range api.History {
		completed[c.ID] = c.Status == "completed"
	}
	for _, id := range shown {
		if !completed[id] {
			t.Errorf("the page shows checkpoint %d completed; the API does not: %s", id, body)
		}
		if id <= final {
			t.Errorf("the page shows checkpoint %d, not above the restored checkpoint %d", id, final)
		}
	}
	restored, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector("#restore dd").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if restored != fmt.Sprint(final) {
		t.Errorf("latest restore shows checkpoint %q, want %d", restored, final)
	}
	name, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("job-name").textContent + "|" + document.title`))
	if err != nil {
		t.Fatal(err)
	}
	if name != j.name+"|"+j.name+" · Tidemark" {
		t.Errorf("job name and title shown: %q, want job %s", name, j.name)
	}
	foreign, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`performance.getEntriesByType("resource").map(e => e.name).filter(n => !n.startsWith(location.origin))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(foreign) > 0 {
		t.Errorf("the dashboard loaded from elsewhere: %v", foreign)
	}

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(testOutputDir(t), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(png) < 10_000 {
		t.Errorf("screenshot of %d bytes: blank?", len(png))
	}
	t.Logf("dashboard showed %d completed checkpoints (restored checkpoint %d); screenshot (%d bytes): %s", len(shown), final, len(png), shot)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("ran out of time")
	}
}
