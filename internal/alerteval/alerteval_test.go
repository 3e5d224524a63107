package alerteval_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/alerteval"
)

// TestEvaluate: the subset's semantics on a hand-made history: instant
// selectors with matchers, increase over a reset, deriv, arithmetic and
// comparisons between vectors and scalars, and/unless, aggregation, and a
// rule's for.
func TestEvaluate(t *testing.T) {
	h := alerteval.NewHistory()
	t0 := time.Unix(1_000_000, 0)
	for i, vals := range [][3]float64{{0, 10, 5}, {2, 20, 5}, {1, 30, 5}, {4, 40, 5}} {
		text := fmt.Sprintf(`# TYPE c counter
c{k="a"} %g
# TYPE g gauge
g{k="a"} %g
g{k="b"} %g
`, vals[0], vals[1], vals[2])
		if err := h.Scrape(t0.Add(time.Duration(i)*time.Minute), strings.NewReader(text)); err != nil {
			t.Fatal(err)
		}
	}
	at := t0.Add(3 * time.Minute)
	for expr, want := range map[string]string{
		`c`:                           `[{k=a}=4]`,
		`increase(c[10m])`:            `[{k=a}=6]`, // 0→2 (+2), reset to 1 (+1), →4 (+3)
		`deriv(g[10m])`:               `[{k=a}=0.16666666666666666 {k=b}=0]`,
		`g{k="b"}`:                    `[{k=b}=5]`,
		`g{k=~"a|c"} > 35`:            `[{k=a}=40]`,
		`g > 2 * 20`:                  `[]`,
		`g / g`:                       `[{k=a}=1 {k=b}=1]`,
		`g > 6 and deriv(g[10m]) > 0`: `[{k=a}=40]`,
		`g unless deriv(g[10m]) > 0`:  `[{k=b}=5]`,
		`sum(g)`:                      `[{}=45]`,
		`max by (k) (g)`:              `[{k=a}=40 {k=b}=5]`,
		`g > c`:                       `[{k=a}=40]`,
		`increase(c[90s])`:            `[{k=a}=3]`,
		`nothing > 0 or g{k="b"}`:     `[{k=b}=5]`,
		`-1 * g{k="b"} + 10 - 3`:      `[{k=b}=2]`,
	} {
		e, err := alerteval.Parse(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		got, err := h.Eval(e, at)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if s := show(got); s != want {
			t.Errorf("%s = %s, want %s", expr, s, want)
		}
	}
	for _, bad := range []string{`histogram_quantile(0.9, x)`, `c[5m]`, `increase(c)`, `g > on(k) c`, `g{k="a"`} {
		if _, err := alerteval.Parse(bad); err == nil {
			t.Errorf("%s parsed: want an error (outside the subset)", bad)
		}
	}
	grow, _ := alerteval.Parse(`deriv(g{k="a"}[10m]) > 0`)
	for _, tc := range []struct {
		forD time.Duration
		at   time.Duration
		want bool
	}{{0, 3 * time.Minute, true}, {2 * time.Minute, 3 * time.Minute, true}, {3 * time.Minute, 3 * time.Minute, false}} {
		// deriv needs 2 samples: the expression has results from t0+1m.
		got, err := h.Firing(alerteval.Rule{Alert: "x", Expr: grow, For: tc.forD}, t0.Add(tc.at))
		if err != nil {
			t.Fatal(err)
		}
		if (len(got) > 0) != tc.want {
			t.Errorf("for %s at +%s: firing %v, want %v", tc.forD, tc.at, got, tc.want)
		}
	}
}

func show(ss []alerteval.Sample) string {
	var parts []string
	for _, s := range ss {
		var ls []string
		for k, v := range s.Labels {
			if k != "__name__" {
				ls = append(ls, k+"="+v)
			}
		}
		parts = append(parts, fmt.Sprintf("{%s}=%v", strings.Join(ls, ","), s.Value))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
