package sampledata_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/embedded"
	"github.com/tidemark/tidemark/internal/runner"
)

// TestQuickstartWindowedRun runs configs/quickstart-windowed.yaml on its
// embedded broker with a fixed sample (2000 generated clicks, none after)
// and bounded (stop_at: end), and checks top-pages exactly against the
// top 3 pages by views of each 10 s window computed from the clicks the
// broker holds; the malformed clicks are in the dead-letter topic.
func TestQuickstartWindowedRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, err := config.Load("../../configs/quickstart-windowed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.State.Dir = filepath.Join(dir, "state")
	cfg.Checkpoint.Storage = "file://" + filepath.Join(dir, "checkpoints")
	cfg.Checkpoint.Interval = 100 * time.Millisecond
	cfg.HTTP.Listen = ""
	cfg.Kafka.EmbeddedListen = "127.0.0.1:0"
	cfg.Kafka.Seed.Records = 2000
	cfg.Kafka.Seed.RatePerSecond = 0
	cfg.Sources[0].StopAt = config.StopAtEnd
	if err := runner.Run(ctx, &cfg, runner.Options{}, zaptest.NewLogger(t), runner.Hooks{}); err != nil {
		t.Fatalf("run: %v", err)
	}

	withBroker(ctx, t, filepath.Join(cfg.State.Dir, "embedded-kafka"), func(cl *kgo.Client) {
		var clicks []embedded.Event
		malformed := 0
		consume(ctx, t, cl, "clicks", func(got []string) bool {
			if len(got) < cfg.Kafka.Seed.Records {
				return false
			}
			for _, l := range got {
				_, v, _ := strings.Cut(l, "\t")
				var ev embedded.Event
				if json.Unmarshal([]byte(v), &ev) != nil {
					malformed++
					continue
				}
				clicks = append(clicks, ev)
			}
			return true
		})
		want := topPages(clicks)
		if len(want) < 3 {
			t.Fatalf("reference: %d rows", len(want))
		}
		checkAppend(ctx, t, cl, "top-pages", want)
		dead := consume(ctx, t, cl, cfg.DeadLetterTopic(), func(got []string) bool { return len(got) >= malformed })
		if len(dead) != malformed || malformed != cfg.Kafka.Seed.Records/cfg.Kafka.Seed.MalformedEvery {
			t.Errorf("%d dead letters, %d malformed clicks", len(dead), malformed)
		}
	})
}

// topPages: per 10 s window of event time, the 3 pages with the most
// views (ties: page name), with their distinct users.
func topPages(clicks []embedded.Event) []string {
	type group struct {
		start int64
		page  string
	}
	views := map[group]int{}
	users := map[group]map[string]bool{}
	for _, c := range clicks {
		if c.Action != "view" {
			continue
		}
		g := group{c.TimeMs - c.TimeMs%10000, c.Page}
		views[g]++
		if users[g] == nil {
			users[g] = map[string]bool{}
		}
		users[g][c.User] = true
	}
	perWindow := map[int64][]group{}
	for g := range views {
		perWindow[g.start] = append(perWindow[g.start], g)
	}
	var out []string
	for start, gs := range perWindow {
		slices.SortFunc(gs, func(a, b group) int {
			if views[a] != views[b] {
				return views[b] - views[a]
			}
			return strings.Compare(a.page, b.page)
		})
		for i, g := range gs[:min(3, len(gs))] {
			out = append(out, fmt.Sprintf("%s\t%s", g.page, mustJSON(struct {
				Window   string `json:"window"`
				Rank     int    `json:"rank"`
				Page     string `json:"page"`
				Views    int    `json:"views"`
				Visitors int    `json:"visitors"`
			}{rfc3339(time.UnixMilli(start)), i + 1, g.page, views[g], len(users[g])})))
		}
	}
	return sortByValue(out)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
