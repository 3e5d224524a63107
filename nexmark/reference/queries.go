package reference

import (
	"fmt"
	"slices"
)

// Names lists the queries this package implements, in order.
var Names = []string{"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11", "q15", "q18", "q19"}

var queries = map[string]func(Input) *Result{
	"q0": Q0, "q1": Q1, "q2": Q2, "q3": Q3, "q4": Q4, "q5": Q5,
	"q7": Q7, "q8": Q8, "q11": Q11, "q15": Q15, "q18": Q18, "q19": Q19,
}

// Query computes the named query ("q0" … "q19", one of Names).
func Query(name string, in Input) (*Result, error) {
	q, ok := queries[name]
	if !ok {
		return nil, fmt.Errorf("reference: no query %q (have %v)", name, Names)
	}
	return q(in), nil
}

// bidColumns are the bid view's columns (q18's output).
var bidColumns = []Column{{"auction", Int}, {"bidder", Int}, {"price", Int}, {"channel", String},
	{"url", String}, {"dateTime", String}, {"extra", String}}

func init() {
	if len(queries) != len(Names) {
		panic("reference: Names and queries disagree")
	}
	for _, n := range Names {
		if _, ok := queries[n]; !ok || !slices.Contains(Names, n) {
			panic("reference: Names and queries disagree on " + n)
		}
	}
}
