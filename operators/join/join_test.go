package join_test

import (
	"fmt"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/join"
	"github.com/tidemark/tidemark/operators/optest"
	"github.com/tidemark/tidemark/operators/state"
	"github.com/tidemark/tidemark/plugin"
)

// env is an environment holding only the join.
func env(t testing.TB) *plugin.Environment {
	t.Helper()
	e := plugin.NewEnvironment()
	if err := join.Register(e); err != nil {
		t.Fatal(err)
	}
	return e
}

// parse parses one join entry.
func parse(t testing.TB, src string) (*plugin.ParsedConfig, []plugin.Problem) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return env(t).Parse(&doc, "operators[0]")
}

// newJoin returns a constructor of the join configured by src (type and
// from added).
func newJoin(t testing.TB, src string) func() operators.Operator {
	t.Helper()
	conf, ps := parse(t, "type: join\nname: j\nfrom: [l, r]\n"+src)
	if len(ps) > 0 {
		t.Fatalf("config problems: %v", ps)
	}
	return func() operators.Operator {
		op, err := join.New(conf, &plugin.Resources{Name: "j"})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
}

var harness = []optest.Option{optest.Name("j"), optest.Inputs("left", "right"), optest.Outputs("late")}

// scripts are the golden scripts of testdata/ and the join each runs.
var scripts = []struct{ file, config string }{
	{"regular_inner.txt", `key: {left: value.seller, right: value.id}
where: 'right.state != "WY"'
select: {name: right.name, id: left.id}`},
	{"regular_left.txt", `how: left
key: {left: value.k, right: value.k}
where: 'right.r != "no"'`},
	{"regular_ttl.txt", `key: {left: value.k, right: value.k}
ttl: 1m`},
	{"regular_left_ttl.txt", `how: left
key: {left: value.k, right: value.k}
ttl: 1m`},
	{"regular_retain.txt", `key: {left: value.id, right: value.auction}
where: 'left.start <= right.t && right.t <= left.expires'
retain: {left: value.expires, right: timestamp}
select: {auction: left.id, price: right.price}`},
	{"interval.txt", `join: interval
key: {left: value.k, right: value.k}
between: {lower: -2s, upper: 1s}
select: {l: left.n, r: right.n}`},
	{"interval_q7.txt", `join: interval
key: {left: value.price, right: value.maxprice}
between: {lower: -10s, upper: 0s}
select: {auction: left.auction, price: left.price}`},
	{"window_inner.txt", `join: window
window: {type: tumbling, size: 10s}
key: {left: value.k, right: value.k}`},
	{"window_hopping.txt", `join: window
window: {type: hopping, size: 10s, slide: 5s}
key: {left: value.k, right: value.k}
select: {l: left.n, r: right.n, start: window.start}`},
	{"window_attached.txt", `join: window
window: {type: attached}
key: {left: window.start, right: key}
where: 'left.num >= right.maxn'
select: {auction: left.auction, num: left.num}`},
	{"window_left.txt", windowHow("left")},
	{"window_right.txt", windowHow("right")},
	{"window_full.txt", windowHow("full")},
	{"window_semi.txt", windowHow("semi")},
	{"window_anti.txt", windowHow("anti")},
}

func windowHow(how string) string {
	return `join: window
how: ` + how + `
window: {type: tumbling, size: 10s}
key: {left: value.k, right: value.k}
where: 'left.x == right.x'
select: {l: left.n, r: right.n}`
}

// TestScripts runs the golden scripts (go test -rewrite rewrites them).
func TestScripts(t *testing.T) {
	for _, s := range scripts {
		t.Run(s.file, func(t *testing.T) {
			optest.Run(t, "testdata/"+s.file, newJoin(t, s.config), harness...)
		})
	}
}

// TestRestoreEquivalence: every script's input, with a checkpoint and a
// restore into a fresh state directory between any two commands, gives
// the output of an uninterrupted run.
func TestRestoreEquivalence(t *testing.T) {
	for _, s := range scripts {
		t.Run(s.file, func(t *testing.T) {
			optest.RunRestoreEquivalence(t, "testdata/"+s.file, newJoin(t, s.config), harness...)
		})
	}
}

// TestRegularDropsLegacyRetainIndex: state of a regular join written by an
// older version holds the maps retain.left / retain.right, which this
// version no longer reads; restoring such state drops them, and only them.
func TestRegularDropsLegacyRetainIndex(t *testing.T) {
	var cfg string
	for _, s := range scripts {
		if s.file == "regular_retain.txt" {
			cfg = s.config
		}
	}
	h := optest.New(t, newJoin(t, cfg), harness...)
	b := h.Backend()
	legacy := []*state.Map[[]byte, []byte]{
		state.NewMap(b, "j", "retain.left", state.Bytes{}, state.Bytes{}),
		state.NewMap(b, "j", "retain.right", state.Bytes{}, state.Bytes{}),
	}
	other := state.NewMap(b, "other", "retain.left", state.Bytes{}, state.Bytes{})
	for i := range 100 {
		key := []byte(fmt.Sprintf("auction-%d", i))
		for _, m := range append(legacy, other) {
			if err := m.Put(key, []byte("row"), []byte("1")); err != nil {
				t.Fatal(err)
			}
		}
	}
	id, _, err := h.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Restore(id); err != nil {
		t.Fatal(err)
	}
	b = h.Backend()
	for i := range 100 {
		key := []byte(fmt.Sprintf("auction-%d", i))
		for _, name := range []string{"retain.left", "retain.right"} {
			if _, ok, err := state.NewMap(b, "j", name, state.Bytes{}, state.Bytes{}).Get(key, []byte("row")); err != nil || ok {
				t.Fatalf("%s of %s still there after the restore (%v, %v)", name, key, ok, err)
			}
		}
		if _, ok, err := state.NewMap(b, "other", "retain.left", state.Bytes{}, state.Bytes{}).Get(key, []byte("row")); err != nil || !ok {
			t.Fatalf("another operator's map lost %s (%v, %v)", key, ok, err)
		}
	}
}
