package alerteval

import (
	"fmt"
	"os"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Rule is an alerting rule of a Prometheus rule file.
type Rule struct {
	Alert string
	Expr  Expr
	// Source is the expression as written.
	Source string
	For    time.Duration
}

// LoadRules reads the alerting rules of the rule file path, parsing each
// expression; an expression outside the subset this package evaluates is
// an error naming the alert.
func LoadRules(path string) ([]Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("alerteval: %w", err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
				For    string `yaml:"for"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("alerteval: %s: %w", path, err)
	}
	var out []Rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				return nil, fmt.Errorf("alerteval: %s: group %s: only alerting rules are supported (record %q)", path, g.Name, r.Record)
			}
			e, err := Parse(r.Expr)
			if err != nil {
				return nil, fmt.Errorf("alerteval: %s: alert %s: %w", path, r.Alert, err)
			}
			rule := Rule{Alert: r.Alert, Expr: e, Source: r.Expr}
			if r.For != "" {
				d, err := model.ParseDuration(r.For)
				if err != nil {
					return nil, fmt.Errorf("alerteval: %s: alert %s: for: %w", path, r.Alert, err)
				}
				rule.For = time.Duration(d)
			}
			out = append(out, rule)
		}
	}
	return out, nil
}

// Firing returns the elements of r's expression at at if the rule fires
// then, as Prometheus evaluating the rule at each scrape would: the
// expression has a result at at, and it had one at every scrape since the
// one at least r.For before at.
func (h *History) Firing(r Rule, at time.Time) ([]Sample, error) {
	now, err := h.Eval(r.Expr, at)
	if err != nil || len(now) == 0 || r.For == 0 {
		return now, err
	}
	for i := len(h.times) - 1; i >= 0; i-- {
		t := h.times[i]
		if !t.Before(at) {
			continue
		}
		s, err := h.Eval(r.Expr, t)
		if err != nil {
			return nil, err
		}
		if len(s) == 0 {
			return nil, nil // pending since after t: not for long enough
		}
		if at.Sub(t) >= r.For {
			return now, nil
		}
	}
	return nil, nil
}
