package aggregate_test

import (
	"strings"
	"testing"

	"github.com/tidemark/tidemark/operators/aggregate"
	"github.com/tidemark/tidemark/operators/optest"
)

// scripts are the golden scripts of testdata/ with the configuration
// each runs.
var scripts = []struct{ file, conf string }{
	{"tumbling.txt", `
type: aggregate
group_by: {k: value.k}
window: {type: tumbling, size: 10s}
late: true
aggregates:
  n: {fn: count}
  sum: {fn: sum, expr: value.x}
  min: {fn: min, expr: value.x}
  max: {fn: max, expr: value.x}
  avg: {fn: avg, expr: value.x}
  users: {fn: count_distinct, expr: value.u}
  first: {fn: first, expr: value.x}
  last: {fn: last, expr: value.x}
`},
	{"hopping.txt", `
type: aggregate
group_by: {k: value.k}
window: {type: hopping, size: 10s, slide: 5s, offset: 1s}
late: true
aggregates: {n: {fn: count}}
`},
	{"lateness.txt", `
type: aggregate
group_by: {k: value.k}
window: {type: tumbling, size: 10s}
allowed_lateness: 5s
late: true
aggregates: {n: {fn: count}, sum: {fn: sum, expr: value.x}}
window_fields: {end: ""}
`},
	{"session.txt", `
type: aggregate
group_by: {k: value.k}
window: {type: session, gap: 10s}
late: true
aggregates:
  n: {fn: count}
  sum: {fn: sum, expr: value.x}
  users: {fn: count_distinct, expr: value.u}
  first: {fn: first, expr: value.x}
  last: {fn: last, expr: value.x}
`},
	{"session-lateness.txt", `
type: aggregate
group_by: {k: value.k}
window: {type: session, gap: 10s}
allowed_lateness: 10s
late: true
aggregates: {n: {fn: count}, users: {fn: count_distinct, expr: value.u}}
`},
	{"session-batch.txt", `
type: aggregate
group_by: {k: value.k}
window: {type: session, gap: 10s}
aggregates: {n: {fn: count}, users: {fn: count_distinct, expr: value.u}}
`},
	{"attached.txt", `
type: aggregate
group_by: {starttime: window.start}
window: {type: attached}
aggregates: {maxn: {fn: max, expr: value.num}, n: {fn: count}}
window_fields: {start: "", end: endtime}
`},
	{"errors.txt", `
type: aggregate
group_by: {k: value.k}
window: {type: tumbling, size: 10s}
aggregates:
  sum: {fn: sum, expr: value.x}
  min: {fn: min, expr: value.s}
  n: {fn: count, expr: value.x}
`},
	{"updating.txt", `
type: aggregate
group_by: {k: value.k}
aggregates:
  n: {fn: count}
  nx: {fn: count, expr: value.x}
  sum: {fn: sum, expr: value.x}
  min: {fn: min, expr: value.x}
  max: {fn: max, expr: value.x}
  avg: {fn: avg, expr: value.x}
  users: {fn: count_distinct, expr: value.u}
`},
	{"updating-first.txt", `
type: aggregate
group_by: {k: value.k}
aggregates: {first: {fn: first, expr: value.x}, last: {fn: last, expr: value.x}}
`},
	{"on-checkpoint.txt", `
type: aggregate
group_by: {day: value.d}
emit: on_checkpoint
aggregates:
  bids: {fn: count}
  big: {fn: count, filter: value.x >= 10}
  users: {fn: count_distinct, expr: value.u}
  small_users: {fn: count_distinct, expr: value.u, filter: value.x < 10}
`},
	{"ttl.txt", `
type: aggregate
group_by: {k: value.k}
ttl: 1m
aggregates: {sum: {fn: sum, expr: value.x}}
`},
	{"idle.txt", `
type: aggregate
group_by: {k: value.k}
window: {type: tumbling, size: 10s}
late: true
aggregates: {n: {fn: count}}
`},
	{"nulls.txt", `
type: aggregate
group_by: {k: value.k}
window: {type: tumbling, size: 10s}
aggregates:
  n: {fn: count, expr: value.x, filter: '!(value?.skip ?? false)'}
  sum: {fn: sum, expr: value.x, filter: '!(value?.skip ?? false)'}
  min: {fn: min, expr: value.x, filter: '!(value?.skip ?? false)'}
  max: {fn: max, expr: value.x, filter: '!(value?.skip ?? false)'}
  avg: {fn: avg, expr: value.x, filter: '!(value?.skip ?? false)'}
  distinct: {fn: count_distinct, expr: value.x, filter: '!(value?.skip ?? false)'}
  first: {fn: first, expr: value.x, filter: '!(value?.skip ?? false)'}
  last: {fn: last, expr: value.x, filter: '!(value?.skip ?? false)'}
  rows: {fn: count, filter: '!(value?.skip ?? false)'}
`},
	{"updating-nulls.txt", `
type: aggregate
group_by: {k: value.k}
aggregates:
  n: {fn: count, expr: value.x}
  sum: {fn: sum, expr: value.x}
  min: {fn: min, expr: value.x}
  max: {fn: max, expr: value.x}
  avg: {fn: avg, expr: value.x}
  distinct: {fn: count_distinct, expr: value.x}
  rows: {fn: count, filter: '!(value?.skip ?? false)'}
`},
}

func TestScripts(t *testing.T) {
	for _, s := range scripts {
		t.Run(s.file, func(t *testing.T) {
			optest.Run(t, "testdata/"+s.file, ctor(t, s.conf), optest.Name("agg"), optest.Outputs("late"))
		})
	}
}

func TestRestoreEquivalence(t *testing.T) {
	for _, s := range scripts {
		t.Run(s.file, func(t *testing.T) {
			optest.RunRestoreEquivalence(t, "testdata/"+s.file, ctor(t, s.conf), optest.Name("agg"), optest.Outputs("late"))
		})
	}
}

// With no window kept in memory between batches (every batch writes its
// windows to state, as when maxCached is exceeded), the scripts still
// restore equivalently and Nexmark q5 still agrees with the reference.
func TestWithoutCache(t *testing.T) {
	defer aggregate.SetMaxCached(0)()
	for _, s := range scripts {
		if !strings.Contains(s.conf, "type: tumbling") && !strings.Contains(s.conf, "type: hopping") {
			continue // only these keep windows in memory
		}
		t.Run(s.file, func(t *testing.T) {
			optest.RunRestoreEquivalence(t, "testdata/"+s.file, ctor(t, s.conf), optest.Name("agg"), optest.Outputs("late"))
		})
	}
	t.Run("q5", TestNexmarkQ5)
}
