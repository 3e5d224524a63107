package yamlutil

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Messages for a value of the wrong type, completed with ", got " and
// KindName of the value.
const (
	MustBeDuration = "must be a duration with a unit, such as 500ms, 10s or 1m30s"
	MustBeBool     = "must be true or false"
	MustBeInt      = "must be a whole number"
	MustBeFloat    = "must be a number"
	MustBeString   = "must be a single value (quote it if it holds special characters)"
	MustBeList     = `must be a list ([a, b], or one "- item" per line)`
	MustBeMapping  = "must be a section of keys (a mapping)"
)

// KindName describes what n holds, for messages: "a list", "a mapping",
// or the scalar itself, quoted.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// UnknownKey is the message for a key that is not among known: "unknown
// key", with a suggestion when one of known is a likely misspelling.
func UnknownKey(key string, known []string) string {
	if s := Suggest(key, known); s != "" {
		return fmt.Sprintf("unknown key (did you mean %q?)", s)
	}
	return "unknown key"
}

// DuplicateKey is the message for a key given a second time in one
// mapping, first at line first.
func DuplicateKey(first int) string {
	return fmt.Sprintf("duplicate key: also set at line %d; YAML keeps only one of them, so remove or merge the other", first)
}

// QuoteList renders a set of allowed values for messages: "a", "b".
func QuoteList(vals ...string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// Suggest returns the candidate closest to key, if it is close enough to
// be a likely misspelling; "" otherwise. Ties go to the candidate first
// in sorted order.
func Suggest(key string, candidates []string) string {
	names := slices.Clone(candidates)
	slices.Sort(names)
	best, bestD := "", len(key)/3+2
	for _, name := range names {
		if d := distance(key, name); d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
