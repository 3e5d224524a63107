package plugin

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with an operator's configuration: the key
// it concerns (the path given to Parse, then the field's path:
// "operators[3] (counts).window.size"), the line it is on in the file (0
// when unknown) and what is wrong. It has the fields of internal/config's
// Problem, so that one converts into the other.
type Problem struct {
	Key  string
	Line int
	Msg  string
}

// String returns "line L: key: msg", leaving out what is unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// problemsError joins problems into one error.
func problemsError(ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return fmt.Errorf("%s", strings.Join(s, "; "))
}
