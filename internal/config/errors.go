package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration: the key it concerns
// (dotted path, e.g. "checkpoint.interval"), the line it is on when known
// (0 otherwise) and what is wrong.
type Problem struct {
	Key  string
	Line int
	Msg  string
}

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

// Error lists every problem found in a configuration. Callers that need the
// details use errors.As.
type Error struct {
	// File is the configuration file's path, if it came from one.
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if len(e.Problems) == 1 {
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// problems gathers Problems; its err is nil when there are none.
type problems struct {
	list []Problem
}

func (ps *problems) add(key string, line int, format string, args ...any) {
	ps.list = append(ps.list, Problem{Key: key, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) has(key string) bool {
	for _, p := range ps.list {
		if p.Key == key {
			return true
		}
	}
	return false
}

func (ps *problems) err(file string) error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{File: file, Problems: ps.list}
}
