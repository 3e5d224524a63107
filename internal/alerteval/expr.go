package alerteval

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/common/model"
)

// Expr is a parsed expression.
type Expr interface {
	eval(h *History, at time.Time) (value, error)
}

// value is a scalar or an instant vector.
type value struct {
	scalar   bool
	s        float64
	elements []element
}

type element struct {
	labels Labels
	v      float64
}

// Sample is one element of an instant vector result.
type Sample struct {
	Labels Labels
	Value  float64
}

// Eval evaluates e at time at over h's scrapes: the elements of the
// resulting vector (a scalar result is one element without labels).
func (h *History) Eval(e Expr, at time.Time) ([]Sample, error) {
	v, err := e.eval(h, at)
	if err != nil {
		return nil, err
	}
	if v.scalar {
		return []Sample{{Labels: Labels{}, Value: v.s}}, nil
	}
	out := make([]Sample, len(v.elements))
	for i, el := range v.elements {
		out[i] = Sample{Labels: el.labels, Value: el.v}
	}
	return out, nil
}

// Parse parses expr, which must keep to the subset of PromQL this
// package evaluates (see the package doc).
func Parse(expr string) (Expr, error) {
	p := &parser{src: expr}
	p.lex()
	if p.err != nil {
		return nil, p.err
	}
	e := p.parseOr()
	if p.err == nil && p.pos < len(p.toks) {
		p.fail("unexpected %q", p.toks[p.pos])
	}
	if p.err != nil {
		return nil, fmt.Errorf("alerteval: %q: %w", expr, p.err)
	}
	return e, nil
}

type parser struct {
	src  string
	toks []string
	pos  int
	err  error
}

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

var tokenRE = regexp.MustCompile(`^(\s+|[A-Za-z_:][A-Za-z0-9_:]*|[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|"(\\.|[^"\\])*"|\[[0-9a-z]+\]|==|!=|>=|<=|=~|!~|[-+*/(){}<>=,])`)

func (p *parser) lex() {
	s := p.src
	for s != "" {
		m := tokenRE.FindString(s)
		if m == "" {
			p.fail("cannot read %q", s)
			return
		}
		if strings.TrimSpace(m) != "" {
			p.toks = append(p.toks, m)
		}
		s = s[len(m):]
	}
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	if t == "" {
		p.fail("unexpected end of expression")
	} else {
		p.pos++
	}
	return t
}

func (p *parser) expect(t string) {
	if got := p.next(); got != t && p.err == nil {
		p.fail("expected %q, got %q", t, got)
	}
}

func (p *parser) parseOr() Expr {
	e := p.parseAnd()
	for p.peek() == "or" {
		p.next()
		e = &setOp{op: "or", l: e, r: p.parseAnd()}
	}
	return e
}

func (p *parser) parseAnd() Expr {
	e := p.parseCmp()
	for p.peek() == "and" || p.peek() == "unless" {
		op := p.next()
		e = &setOp{op: op, l: e, r: p.parseCmp()}
	}
	return e
}

var comparisons = []string{">", "<", ">=", "<=", "==", "!="}

func (p *parser) parseCmp() Expr {
	e := p.parseAdd()
	for slices.Contains(comparisons, p.peek()) {
		op := p.next()
		e = &binOp{op: op, l: e, r: p.parseAdd()}
	}
	return e
}

func (p *parser) parseAdd() Expr {
	e := p.parseMul()
	for p.peek() == "+" || p.peek() == "-" {
		op := p.next()
		e = &binOp{op: op, l: e, r: p.parseMul()}
	}
	return e
}

func (p *parser) parseMul() Expr {
	e := p.parseUnary()
	for p.peek() == "*" || p.peek() == "/" {
		op := p.next()
		e = &binOp{op: op, l: e, r: p.parseUnary()}
	}
	return e
}

var rangeFuncs = []string{"increase", "rate", "delta", "deriv"}

func (p *parser) parseUnary() Expr {
	t := p.next()
	switch {
	case p.err != nil:
		return nil
	case t == "(":
		e := p.parseOr()
		p.expect(")")
		return e
	case t == "-":
		return &binOp{op: "*", l: number(-1), r: p.parseUnary()}
	case t[0] >= '0' && t[0] <= '9':
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			p.fail("bad number %q", t)
		}
		return number(v)
	case slices.Contains(rangeFuncs, t):
		p.expect("(")
		sel := p.parseSelector(p.next())
		p.expect(")")
		if sel != nil && sel.rng == 0 {
			p.fail("%s needs a range selector, got %s without [range]", t, sel.name)
		}
		return &rangeFunc{fn: t, sel: sel}
	case t == "sum" || t == "max" || t == "min":
		var by []string
		if p.peek() == "by" {
			p.next()
			p.expect("(")
			for p.err == nil && p.peek() != ")" {
				by = append(by, p.next())
				if p.peek() == "," {
					p.next()
				}
			}
			p.expect(")")
		}
		p.expect("(")
		e := p.parseOr()
		p.expect(")")
		return &aggregate{fn: t, by: by, e: e}
	case unicode.IsLetter(rune(t[0])) || t[0] == '_' || t[0] == ':':
		sel := p.parseSelector(t)
		if sel != nil && sel.rng != 0 {
			p.fail("range selector %s outside a function", sel.name)
		}
		return sel
	}
	p.fail("unexpected %q", t)
	return nil
}

type matcher struct {
	name, op, value string
	re              *regexp.Regexp
}

type selector struct {
	name     string
	matchers []matcher
	rng      time.Duration
}

func (p *parser) parseSelector(name string) *selector {
	sel := &selector{name: name}
	if p.peek() == "{" {
		p.next()
		for p.err == nil && p.peek() != "}" {
			m := matcher{name: p.next(), op: p.next()}
			q := p.next()
			v, err := strconv.Unquote(q)
			if err != nil {
				p.fail("label value %s is not a quoted string", q)
				return nil
			}
			m.value = v
			switch m.op {
			case "=", "!=":
			case "=~", "!~":
				if m.re, err = regexp.Compile("^(?:" + v + ")$"); err != nil {
					p.fail("bad regexp %q: %v", v, err)
				}
			default:
				p.fail("unknown matcher %q", m.op)
			}
			sel.matchers = append(sel.matchers, m)
			if p.peek() == "," {
				p.next()
			}
		}
		p.expect("}")
	}
	if t := p.peek(); strings.HasPrefix(t, "[") {
		p.next()
		d, err := model.ParseDuration(strings.Trim(t, "[]"))
		if err != nil {
			p.fail("bad range %s: %v", t, err)
		}
		sel.rng = time.Duration(d)
	}
	return sel
}

func (sel *selector) matches(ls Labels) bool {
	if ls["__name__"] != sel.name {
		return false
	}
	for _, m := range sel.matchers {
		v := ls[m.name]
		ok := false
		switch m.op {
		case "=":
			ok = v == m.value
		case "!=":
			ok = v != m.value
		case "=~":
			ok = m.re.MatchString(v)
		case "!~":
			ok = !m.re.MatchString(v)
		}
		if !ok {
			return false
		}
	}
	return true
}

func (sel *selector) eval(h *History, at time.Time) (value, error) {
	var v value
	for _, s := range h.selectSeries(sel) {
		if x, ok := s.instant(at); ok {
			v.elements = append(v.elements, element{labels: s.labels, v: x})
		}
	}
	return v, nil
}

type number float64

func (n number) eval(*History, time.Time) (value, error) {
	return value{scalar: true, s: float64(n)}, nil
}

type rangeFunc struct {
	fn  string
	sel *selector
}

func (f *rangeFunc) eval(h *History, at time.Time) (value, error) {
	var v value
	for _, s := range h.selectSeries(f.sel) {
		xs := s.window(at, f.sel.rng)
		if len(xs) < 2 {
			continue // as in Prometheus: no result from fewer than 2 samples
		}
		var r float64
		switch f.fn {
		case "increase":
			r = increase(xs)
		case "rate":
			r = increase(xs) / xs[len(xs)-1].t.Sub(xs[0].t).Seconds()
		case "delta":
			r = xs[len(xs)-1].v - xs[0].v
		case "deriv":
			r = deriv(xs)
		}
		v.elements = append(v.elements, element{labels: s.labels.without(), v: r})
	}
	return v, nil
}

type aggregate struct {
	fn string
	by []string
	e  Expr
}

func (a *aggregate) eval(h *History, at time.Time) (value, error) {
	in, err := a.e.eval(h, at)
	if err != nil {
		return value{}, err
	}
	if in.scalar {
		return value{}, fmt.Errorf("%s over a scalar", a.fn)
	}
	groups := map[string]*element{}
	var order []string
	for _, el := range in.elements {
		ls := Labels{}
		for _, l := range a.by {
			if v, ok := el.labels[l]; ok {
				ls[l] = v
			}
		}
		k := ls.key()
		g := groups[k]
		if g == nil {
			groups[k] = &element{labels: ls, v: el.v}
			order = append(order, k)
			continue
		}
		switch a.fn {
		case "sum":
			g.v += el.v
		case "max":
			g.v = math.Max(g.v, el.v)
		case "min":
			g.v = math.Min(g.v, el.v)
		}
	}
	var out value
	for _, k := range order {
		out.elements = append(out.elements, *groups[k])
	}
	return out, nil
}

type binOp struct {
	op   string
	l, r Expr
}

func apply(op string, a, b float64) (float64, bool) {
	switch op {
	case "+":
		return a + b, true
	case "-":
		return a - b, true
	case "*":
		return a * b, true
	case "/":
		return a / b, true
	case ">":
		return a, a > b
	case "<":
		return a, a < b
	case ">=":
		return a, a >= b
	case "<=":
		return a, a <= b
	case "==":
		return a, a == b
	case "!=":
		return a, a != b
	}
	return 0, false
}

func (b *binOp) eval(h *History, at time.Time) (value, error) {
	l, err := b.l.eval(h, at)
	if err != nil {
		return value{}, err
	}
	r, err := b.r.eval(h, at)
	if err != nil {
		return value{}, err
	}
	cmp := slices.Contains(comparisons, b.op)
	switch {
	case l.scalar && r.scalar:
		if cmp {
			return value{}, fmt.Errorf("comparison of two scalars needs bool, which is not supported")
		}
		v, _ := apply(b.op, l.s, r.s)
		return value{scalar: true, s: v}, nil
	case r.scalar:
		var out value
		for _, el := range l.elements {
			if v, ok := apply(b.op, el.v, r.s); ok {
				ls := el.labels
				if !cmp {
					ls = ls.without()
				}
				out.elements = append(out.elements, element{labels: ls, v: v})
			}
		}
		return out, nil
	case l.scalar:
		var out value
		for _, el := range r.elements {
			v, ok := apply(b.op, l.s, el.v)
			if cmp {
				v = el.v // a filter keeps the vector's value
			}
			if ok {
				out.elements = append(out.elements, element{labels: el.labels.without(), v: v})
			}
		}
		return out, nil
	}
	// One-to-one matching on every label but the name.
	right := map[string]float64{}
	for _, el := range r.elements {
		k := el.labels.without().key()
		if _, dup := right[k]; dup {
			return value{}, fmt.Errorf("many-to-one match on %v: not supported", el.labels.without())
		}
		right[k] = el.v
	}
	var out value
	for _, el := range l.elements {
		rv, found := right[el.labels.without().key()]
		if !found {
			continue
		}
		if v, ok := apply(b.op, el.v, rv); ok {
			ls := el.labels
			if !cmp {
				ls = ls.without()
			}
			out.elements = append(out.elements, element{labels: ls, v: v})
		}
	}
	return out, nil
}

type setOp struct {
	op   string
	l, r Expr
}

func (s *setOp) eval(h *History, at time.Time) (value, error) {
	l, err := s.l.eval(h, at)
	if err != nil {
		return value{}, err
	}
	r, err := s.r.eval(h, at)
	if err != nil {
		return value{}, err
	}
	if l.scalar || r.scalar {
		return value{}, fmt.Errorf("%s needs two vectors", s.op)
	}
	in := map[string]bool{}
	for _, el := range r.elements {
		in[el.labels.without().key()] = true
	}
	var out value
	for _, el := range l.elements {
		k := el.labels.without().key()
		if (s.op == "and") == in[k] || s.op == "or" {
			out.elements = append(out.elements, el)
		}
	}
	if s.op == "or" {
		have := map[string]bool{}
		for _, el := range l.elements {
			have[el.labels.without().key()] = true
		}
		for _, el := range r.elements {
			if !have[el.labels.without().key()] {
				out.elements = append(out.elements, el)
			}
		}
	}
	return out, nil
}
