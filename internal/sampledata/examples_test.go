package sampledata_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/sampledata"
)

var update = flag.Bool("update", false, "rewrite configs/data/expected from the reference")

const dataDir = "../../configs/data"

// The examples of configs/ with a sample, and what they write: for each
// output topic, the lines (KEY<TAB>VALUE) a reference computes from the
// sample files, independently of the operators.
type example struct {
	config string
	// outputs: topic -> expected lines; append topics sorted, upsert
	// topics the last value per key, sorted.
	outputs map[string][]string
	upsert  map[string]bool
}

func examples(t *testing.T) []example {
	t.Helper()
	clicks := readClicks(t)
	return []example{
		{config: "pageviews", outputs: map[string][]string{"page-views": pageViews(clicks)}},
		{config: "sessions", outputs: map[string][]string{"sessions": sessions(clicks), "sessions-late-clicks": nil}},
		{config: "orders", outputs: map[string][]string{"orders-paid": paidOrders(t)}, upsert: map[string]bool{"orders-paid": true}},
	}
}

// TestExpectedOutputs: configs/data/expected/<example>.<topic>.txt, the
// output each example's comments and the README show, is what the
// reference computes from the sample (go test -update rewrites them).
func TestExpectedOutputs(t *testing.T) {
	for _, ex := range examples(t) {
		for topic, lines := range ex.outputs {
			path := expectedPath(ex.config, topic)
			text := strings.Join(lines, "\n")
			if len(lines) > 0 {
				text += "\n"
			}
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./internal/sampledata -run TestExpectedOutputs -update writes it)", err)
			}
			if string(got) != text {
				t.Errorf("%s differs from the reference:\n%s\nwant:\n%s", path, got, text)
			}
		}
	}
}

// TestReferenceFacts pins what the sample is built to show, so that a
// changed sample still shows it.
func TestReferenceFacts(t *testing.T) {
	clicks := readClicks(t)
	perUser := map[string]int{}
	for _, l := range sessions(clicks) {
		perUser[strings.SplitN(l, "\t", 2)[0]]++
	}
	for u, n := range perUser {
		if n < 2 {
			t.Errorf("user %s has %d session: the sample should give every user several", u, n)
		}
	}
	if len(perUser) != 6 {
		t.Errorf("%d users with sessions, want 6", len(perUser))
	}
	var unpaid, dups int
	for _, l := range paidOrders(t) {
		if strings.Contains(l, `"payment_id":null`) {
			unpaid++
		}
	}
	orders, err := sampledata.Read(sampledata.Path(dataDir, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range orders {
		if seen[string(r.Key)] {
			dups++
		}
		seen[string(r.Key)] = true
	}
	if unpaid == 0 || dups == 0 {
		t.Errorf("the orders sample should have unpaid orders (%d) and duplicates (%d)", unpaid, dups)
	}
}

func expectedPath(config, topic string) string {
	return filepath.Join(dataDir, "expected", config+"."+topic+".txt")
}

type click struct {
	User   string `json:"user"`
	Action string `json:"action"`
	Page   string `json:"page"`
	TS     string `json:"ts"`
	t      time.Time
}

func readClicks(t *testing.T) []click {
	t.Helper()
	recs, err := sampledata.Read(sampledata.Path(dataDir, "clicks"))
	if err != nil {
		t.Fatal(err)
	}
	var out []click
	for _, r := range recs {
		var c click
		if err := json.Unmarshal(r.Value, &c); err != nil {
			t.Fatalf("clicks: %q: %v", r.Value, err)
		}
		if c.t, err = time.Parse(time.RFC3339, c.TS); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// rfc3339 is format_time(ms, "rfc3339").
func rfc3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func line(key string, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return key + "\t" + string(b)
}

// pageViews: views per page per minute (tumbling 1m), and distinct users.
func pageViews(clicks []click) []string {
	type group struct {
		page   string
		minute time.Time
	}
	views := map[group]int{}
	users := map[group]map[string]bool{}
	for _, c := range clicks {
		if c.Action != "view" {
			continue
		}
		g := group{c.Page, c.t.Truncate(time.Minute)}
		views[g]++
		if users[g] == nil {
			users[g] = map[string]bool{}
		}
		users[g][c.User] = true
	}
	var out []string
	for g, n := range views {
		out = append(out, line(g.page, struct {
			Minute   string `json:"minute"`
			Page     string `json:"page"`
			Views    int    `json:"views"`
			Visitors int    `json:"visitors"`
		}{rfc3339(g.minute), g.page, n, len(users[g])}))
	}
	return sortByValue(out)
}

// sessions: per user, clicks no more than the gap (5m) apart, inclusive
// (windows that touch merge).
func sessions(clicks []click) []string {
	const gap = 5 * time.Minute
	byUser := map[string][]click{}
	for _, c := range clicks {
		byUser[c.User] = append(byUser[c.User], c)
	}
	type row struct {
		User      string `json:"user"`
		Start     string `json:"start"`
		LastClick string `json:"last_click"`
		Clicks    int    `json:"clicks"`
		Pages     int    `json:"pages"`
		FirstPage string `json:"first_page"`
		LastPage  string `json:"last_page"`
	}
	var out []string
	for user, cs := range byUser {
		slices.SortStableFunc(cs, func(a, b click) int { return a.t.Compare(b.t) })
		flush := func(s []click) {
			pages := map[string]bool{}
			for _, c := range s {
				pages[c.Page] = true
			}
			out = append(out, line(user, row{user, rfc3339(s[0].t), rfc3339(s[len(s)-1].t), len(s), len(pages), s[0].Page, s[len(s)-1].Page}))
		}
		start := 0
		for i := 1; i < len(cs); i++ {
			if cs[i].t.After(cs[i-1].t.Add(gap)) {
				flush(cs[start:i])
				start = i
			}
		}
		flush(cs[start:])
	}
	return sortByValue(out)
}

// paidOrders: the first copy of each order, left-joined with its payment:
// the last row per order_id.
func paidOrders(t *testing.T) []string {
	t.Helper()
	type order struct {
		OrderID  string  `json:"order_id"`
		Customer string  `json:"customer"`
		Total    float64 `json:"total"`
		TS       string  `json:"ts"`
	}
	type payment struct {
		PaymentID string  `json:"payment_id"`
		OrderID   string  `json:"order_id"`
		Amount    float64 `json:"amount"`
		Method    string  `json:"method"`
		TS        string  `json:"ts"`
	}
	read := func(topic string, v func([]byte) error) {
		recs, err := sampledata.Read(sampledata.Path(dataDir, topic))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := v(r.Value); err != nil {
				t.Fatalf("%s: %q: %v", topic, r.Value, err)
			}
		}
	}
	orders := map[string]order{}
	read("orders", func(b []byte) error {
		var o order
		err := json.Unmarshal(b, &o)
		if _, dup := orders[o.OrderID]; !dup {
			orders[o.OrderID] = o
		}
		return err
	})
	payments := map[string]payment{}
	read("payments", func(b []byte) error {
		var p payment
		err := json.Unmarshal(b, &p)
		if _, two := payments[p.OrderID]; two {
			t.Fatalf("payments: order %s paid twice: the reference keeps one row per order", p.OrderID)
		}
		payments[p.OrderID] = p
		return err
	})
	var out []string
	for id, o := range orders {
		row := struct {
			OrderID   string  `json:"order_id"`
			Customer  string  `json:"customer"`
			Total     float64 `json:"total"`
			OrderedAt string  `json:"ordered_at"`
			PaymentID *string `json:"payment_id"`
			Method    *string `json:"method"`
			PaidAt    *string `json:"paid_at"`
		}{OrderID: o.OrderID, Customer: o.Customer, Total: o.Total, OrderedAt: o.TS}
		if p, ok := payments[id]; ok {
			row.PaymentID, row.Method, row.PaidAt = &p.PaymentID, &p.Method, &p.TS
		}
		out = append(out, line(id, row))
	}
	slices.Sort(out)
	return out
}

// sortByValue sorts KEY<TAB>VALUE lines by value, then key.
func sortByValue(lines []string) []string {
	slices.SortFunc(lines, func(a, b string) int {
		ka, va, _ := strings.Cut(a, "\t")
		kb, vb, _ := strings.Cut(b, "\t")
		if c := strings.Compare(va, vb); c != 0 {
			return c
		}
		return strings.Compare(ka, kb)
	})
	return lines
}
