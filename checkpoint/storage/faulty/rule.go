package faulty

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
)

// Rule injects faults into the calls it matches.
type Rule struct {
	// Ops selects the operations; zero means OpAll.
	Ops Op
	// Key selects the keys; nil matches all. List calls pass their prefix.
	Key func(key string) bool
	// When decides which matching calls fail; nil means Always().
	When Trigger
	// Effect is what a fault does; the zero value is FailBefore.
	Effect Effect
	// Err, if set, is wrapped into the injected error beside ErrInjected,
	// so that a fault can look like, say, storage.ErrNotFound.
	Err error
}

// KeyContains matches keys that contain s.
func KeyContains(s string) func(string) bool {
	return func(key string) bool { return strings.Contains(key, s) }
}

// KeyPrefix matches keys that start with s.
func KeyPrefix(s string) func(string) bool {
	return func(key string) bool { return strings.HasPrefix(key, s) }
}

// KeyEquals matches the key s.
func KeyEquals(s string) func(string) bool {
	return func(key string) bool { return key == s }
}

// Trigger decides, for each call a rule matches, whether it fails. Make one
// with Always, Nth, From or Probability.
type Trigger interface {
	// fire is told the 1-based count of calls the rule matched so far, this
	// one included, and the store's seeded random source.
	fire(n int64, rng *rand.Rand) bool
	String() string
}

type always struct{}

func (always) fire(int64, *rand.Rand) bool { return true }
func (always) String() string              { return "always" }

// Always fails every matching call.
func Always() Trigger { return always{} }

type nth int64

func (t nth) fire(n int64, _ *rand.Rand) bool { return n == int64(t) }
func (t nth) String() string                  { return fmt.Sprintf("call %d", int64(t)) }

// Nth fails the nth matching call (counting from 1), and no other.
func Nth(n int64) Trigger { return nth(n) }

type from int64

func (t from) fire(n int64, _ *rand.Rand) bool { return n >= int64(t) }
func (t from) String() string                  { return fmt.Sprintf("calls from %d on", int64(t)) }

// From fails the nth matching call and every one after it: a store that
// breaks down for good.
func From(n int64) Trigger { return from(n) }

type probability float64

func (t probability) fire(_ int64, rng *rand.Rand) bool { return rng.Float64() < float64(t) }
func (t probability) String() string                    { return fmt.Sprintf("probability %g", float64(t)) }

// Probability fails each matching call with probability p, drawn from the
// store's seeded source (see WithSeed), so a run repeats with its seed.
func Probability(p float64) Trigger { return probability(p) }

// Effect is what an injected fault does to a call.
type Effect struct {
	kind  effectKind
	bytes int64
}

type effectKind uint8

const (
	kindBefore effectKind = iota
	kindAfter
	kindBreakStream
)

// The effects.
var (
	// FailBefore fails the call without reaching the inner store.
	FailBefore = Effect{}
	// FailAfter runs the call on the inner store, then fails it anyway
	// (closing the reader of a Get): the write happened but its response
	// was lost.
	FailAfter = Effect{kind: kindAfter}
)

// BreakStream breaks the call's data stream after n bytes. A Put or
// PutIfAbsent hands the inner store a reader that fails after n bytes of
// the object (a crash mid-upload: the inner store must fail and leave
// nothing visible); a Get returns a reader that fails after n bytes (a
// download cut short). For other operations it is FailBefore.
func BreakStream(n int64) Effect { return Effect{kind: kindBreakStream, bytes: max(n, 0)} }

// String describes the effect.
func (e Effect) String() string {
	switch e.kind {
	case kindAfter:
		return "fail after"
	case kindBreakStream:
		return fmt.Sprintf("break stream after %d bytes", e.bytes)
	}
	return "fail before"
}

// Injection is a rule armed on a Store.
type Injection struct {
	rule Rule

	mu      sync.Mutex // guards the fields below; taken under Store.mu
	armed   bool
	matched int64
	fired   int64
}

// Disarm stops the rule from injecting further faults. Calls already past
// their rule check are not affected.
func (in *Injection) Disarm() {
	in.mu.Lock()
	in.armed = false
	in.mu.Unlock()
}

// Matched is how many calls the rule matched while armed.
func (in *Injection) Matched() int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.matched
}

// Fired is how many faults the rule injected.
func (in *Injection) Fired() int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.fired
}

// String describes the rule.
func (in *Injection) String() string {
	r := in.rule
	return fmt.Sprintf("%s on %s (%s)", r.Effect, r.Ops, r.When)
}

// check counts a call of op on key and reports whether the rule fires.
func (in *Injection) check(op Op, key string, rng *rand.Rand) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.armed || in.rule.Ops&op == 0 || (in.rule.Key != nil && !in.rule.Key(key)) {
		return false
	}
	in.matched++
	if !in.rule.When.fire(in.matched, rng) {
		return false
	}
	in.fired++
	return true
}
