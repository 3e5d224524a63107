package exprbench

import (
	"testing"
)

type compiler struct {
	name    string
	compile func(c Case) (Evaluator, error)
}

var compilers = []compiler{
	{"expr", func(c Case) (Evaluator, error) { return CompileExpr(c.Expr) }},
	{"cel", func(c Case) (Evaluator, error) { return CompileCEL(c.CEL) }},
}

func TestResults(t *testing.T) {
	m, err := ParseMap(BidJSON)
	if err != nil {
		t.Fatal(err)
	}
	bid, err := ParseBid(BidJSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range compilers {
		for _, c := range Cases {
			ev, err := cp.compile(c)
			if err != nil {
				t.Fatalf("%s %s: compile: %v", cp.name, c.Name, err)
			}
			got, err := ev.EvalMap(m, &Sample)
			if err != nil {
				t.Fatalf("%s %s map: %v", cp.name, c.Name, err)
			}
			if err := check(c, got); err != nil {
				t.Errorf("%s map: %v", cp.name, err)
			}
			got, err = ev.EvalBid(&bid, &Sample)
			if err != nil {
				t.Fatalf("%s %s bid: %v", cp.name, c.Name, err)
			}
			if err := check(c, got); err != nil {
				t.Errorf("%s bid: %v", cp.name, err)
			}
		}
	}
}

// BenchmarkEval measures one evaluation over an already parsed record.
func BenchmarkEval(b *testing.B) {
	m, err := ParseMap(BidJSON)
	if err != nil {
		b.Fatal(err)
	}
	bid, err := ParseBid(BidJSON)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range Cases {
		for _, cp := range compilers {
			ev, err := cp.compile(c)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(c.Name+"/map/"+cp.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := ev.EvalMap(m, &Sample); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(c.Name+"/typed/"+cp.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := ev.EvalBid(&bid, &Sample); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRecord is the whole per-record cost of a filter plus two
// computed fields: parse once, evaluate three expressions.
func BenchmarkRecord(b *testing.B) {
	for _, cp := range compilers {
		var evs []Evaluator
		for _, c := range []Case{Cases[0], Cases[2], Cases[4]} {
			ev, err := cp.compile(c)
			if err != nil {
				b.Fatal(err)
			}
			evs = append(evs, ev)
		}
		b.Run("map/"+cp.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m, err := ParseMap(BidJSON)
				if err != nil {
					b.Fatal(err)
				}
				for _, ev := range evs {
					if _, err := ev.EvalMap(m, &Sample); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run("typed/"+cp.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bid, err := ParseBid(BidJSON)
				if err != nil {
					b.Fatal(err)
				}
				for _, ev := range evs {
					if _, err := ev.EvalBid(&bid, &Sample); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkParse is the parse alone, for scale.
func BenchmarkParse(b *testing.B) {
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseMap(BidJSON); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("typed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseBid(BidJSON); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCompile is the start-up cost of one expression.
func BenchmarkCompile(b *testing.B) {
	b.Run("expr", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := CompileExprMap(Cases[0].Expr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := CompileCELMap(Cases[0].CEL); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestParsersAgree(t *testing.T) {
	want, err := ParseMap(BidJSON)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseMapGoccy(BidJSON)
	if err != nil {
		t.Fatal(err)
	}
	var fp FastParser
	f, err := fp.ParseMap(BidJSON)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if g[k] != v || f[k] != v {
			t.Errorf("%s: encoding/json %v (%T), goccy %v (%T), fastjson %v (%T)", k, v, v, g[k], g[k], f[k], f[k])
		}
	}
	b1, _ := ParseBid(BidJSON)
	b2, err := fp.ParseBid(BidJSON)
	if err != nil || b1 != b2 {
		t.Errorf("typed: %+v vs %+v (%v)", b1, b2, err)
	}
}
