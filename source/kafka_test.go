package source_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/source"
)

func TestPartitionOwnerCoversEveryPartitionOnceAndEvenly(t *testing.T) {
	for tasks := 1; tasks <= 7; tasks++ {
		for _, topic := range []string{"in", "orders", "payments-eu", "x"} {
			count := make([]int, tasks)
			for p := range int32(64) {
				o := source.PartitionOwner(topic, p, tasks)
				if o < 0 || o >= tasks {
					t.Fatalf("PartitionOwner(%s, %d, %d) = %d", topic, p, tasks, o)
				}
				count[o]++
			}
			if slices.Max(count)-slices.Min(count) > 1 {
				t.Errorf("%s over %d tasks is uneven: %v", topic, tasks, count)
			}
		}
	}
}

func TestAssignmentStableWhenPartitionsAndTopicsAreAdded(t *testing.T) {
	e := newEnv(t)
	e.createTopic("in-a", 3)
	e.createTopic("in-b", 2)
	e.createTopic("other", 2)
	cfg := e.config()
	cfg.Source.TopicRegex = "in-.*"
	const tasks = 3
	var srcs []*source.Kafka
	for i := range tasks {
		srcs = append(srcs, e.open(cfg, i, tasks, nil))
	}
	check := func(want map[string]int32) map[tp]int {
		t.Helper()
		got := owners(t, srcs)
		n := 0
		for topic, parts := range want {
			for p := range parts {
				o, ok := got[tp{topic, p}]
				if !ok {
					t.Fatalf("%s[%d] is read by no task", topic, p)
				}
				if w := source.PartitionOwner(topic, p, tasks); o != w {
					t.Errorf("%s[%d] is read by task %d, want %d", topic, p, o, w)
				}
				n++
			}
		}
		if len(got) != n {
			t.Errorf("tasks read %d partitions, want %d: %v", len(got), n, got)
		}
		return got
	}
	before := check(map[string]int32{"in-a": 3, "in-b": 2})

	e.setPartitions("in-a", 5)
	e.createTopic("in-0", 4) // sorts before every other topic
	e.clock.Advance(cfg.Source.DiscoveryInterval)
	for _, s := range srcs {
		e.quiet(s)
	}
	after := check(map[string]int32{"in-0": 4, "in-a": 5, "in-b": 2})
	for p, o := range before {
		if after[p] != o {
			t.Errorf("%s[%d] moved from task %d to task %d", p.topic, p.partition, o, after[p])
		}
	}
}

func TestNewPartitionIsReadFromStartOffset(t *testing.T) {
	for _, start := range []string{config.StartEarliest, config.StartLatest} {
		t.Run(start, func(t *testing.T) {
			e := newEnv(t)
			e.createTopic("in", 1)
			cfg := e.config("in")
			cfg.Source.StartOffset = start
			src := e.open(cfg, 0, 1, nil)
			e.produce(rec("in", 0, 1, "a"))
			if recs, _ := e.pollN(src, 1); recs[0].Partition != 0 {
				t.Fatalf("got %+v", recs)
			}

			e.setPartitions("in", 2)
			e.produce(rec("in", 1, 2, "b0"), rec("in", 1, 3, "b1"))
			e.quiet(src) // not due yet: the new partition is not read
			if got := src.Positions(); len(got) != 1 {
				t.Fatalf("partition found before discovery was due: %v", got)
			}
			e.clock.Advance(cfg.Source.DiscoveryInterval)
			want := []operators.Position{{Topic: "in", Partition: 0, Offset: 1}, {Topic: "in", Partition: 1, Offset: 0}}
			if start == config.StartLatest {
				e.quiet(src)
				want[1].Offset = 2
			} else {
				recs, _ := e.pollN(src, 2)
				if got := offsets(recs); !reflect.DeepEqual(got, map[tp][]int64{{"in", 1}: {0, 1}}) {
					t.Fatalf("read %v", got)
				}
				want[1].Offset = 2
			}
			if got := src.Positions(); !reflect.DeepEqual(got, want) {
				t.Fatalf("positions = %v, want %v", got, want)
			}
			e.produce(rec("in", 1, 4, "b2"))
			recs, _ := e.pollN(src, 1)
			if recs[0].Partition != 1 || recs[0].Offset != 2 || string(recs[0].Value) != "b2" {
				t.Fatalf("got %+v", recs[0])
			}
		})
	}
}

func TestDiscoveryDisabled(t *testing.T) {
	e := newEnv(t)
	e.createTopic("in", 1)
	cfg := e.config("in")
	cfg.Source.DiscoveryInterval = 0
	src := e.open(cfg, 0, 1, nil)
	e.setPartitions("in", 2)
	e.clock.Advance(time.Hour)
	e.quiet(src)
	if got := src.Positions(); len(got) != 1 {
		t.Fatalf("positions = %v", got)
	}
}

func TestRestoredPositionsAreHonouredWhicheverTaskOwnsThem(t *testing.T) {
	e := newEnv(t)
	e.createTopic("in", 4)
	for p := range int32(4) {
		for i := range 10 {
			e.produce(rec("in", p, int64(i), fmt.Sprintf("%d-%d", p, i)))
		}
	}
	// Every task gets every position; in[5] does not exist yet, and
	// "gone" is no longer configured.
	restored := []operators.Position{{Topic: "gone", Partition: 0, Offset: 9}, {Topic: "in", Partition: 5, Offset: 3}}
	for p := range int32(4) {
		restored = append(restored, operators.Position{Topic: "in", Partition: p, Offset: 7})
	}
	cfg := e.config("in")
	const tasks = 2
	srcs := []*source.Kafka{e.open(cfg, 0, tasks, restored), e.open(cfg, 1, tasks, restored)}
	own := owners(t, srcs)
	if len(own) != 5 {
		t.Fatalf("owners = %v, want in[0..3] and the pending in[5]", own)
	}
	for i, s := range srcs {
		var mine int
		for _, p := range s.Positions() {
			want := int64(7)
			if p.Partition == 5 {
				want = 3
			} else {
				mine++
			}
			if p.Topic != "in" || p.Offset != want || source.PartitionOwner(p.Topic, p.Partition, tasks) != i {
				t.Errorf("task %d position %+v", i, p)
			}
		}
		recs, _ := e.pollN(s, 3*mine)
		for _, r := range recs {
			if r.Offset < 7 {
				t.Errorf("task %d read %s[%d]@%d, before its restored position", i, r.Topic, r.Partition, r.Offset)
			}
		}
	}

	// in[4] is new: earliest; in[5] resumes at its restored position.
	e.setPartitions("in", 6)
	for _, p := range []int32{4, 5} {
		for i := range 5 {
			e.produce(rec("in", p, int64(i), fmt.Sprintf("%d-%d", p, i)))
		}
	}
	e.clock.Advance(cfg.Source.DiscoveryInterval)
	var got []operators.Record
	for _, s := range srcs {
		n := 0
		for _, p := range []int32{4, 5} {
			if source.PartitionOwner("in", p, tasks) == slices.Index(srcs, s) {
				n += map[int32]int{4: 5, 5: 2}[p]
			}
		}
		recs, _ := e.pollN(s, n)
		got = append(got, recs...)
	}
	want := map[tp][]int64{{"in", 4}: {0, 1, 2, 3, 4}, {"in", 5}: {3, 4}}
	if o := offsets(got); !reflect.DeepEqual(o, want) {
		t.Fatalf("read %v, want %v", o, want)
	}
}

func TestGroupOffsetsAreNeverReadAndCommittedOnCompletion(t *testing.T) {
	e := newEnv(t)
	e.createTopic("in", 2)
	cfg := e.config("in")
	var os kadm.Offsets
	os.AddOffset("in", 0, 9, -1)
	os.AddOffset("in", 1, 9, -1)
	if _, err := e.adm.CommitOffsets(e.ctx, cfg.ConsumerGroup(), os); err != nil {
		t.Fatal(err)
	}
	src := e.open(cfg, 0, 1, nil)
	want := []operators.Position{{Topic: "in", Partition: 0, Offset: 0}, {Topic: "in", Partition: 1, Offset: 0}}
	if got := src.Positions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("positions = %v, want %v (the group's offsets must not be used)", got, want)
	}
	done := []operators.Position{{Topic: "in", Partition: 0, Offset: 4}, {Topic: "in", Partition: 1, Offset: 2}}
	if err := src.NotifyCheckpointComplete(e.ctx, 1, done); err != nil {
		t.Fatal(err)
	}
	// The commit runs in the background: poll the group, bounded.
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		fetched, err := e.adm.FetchOffsets(ctx, cfg.ConsumerGroup())
		if err != nil {
			t.Fatal(err)
		}
		var wrong []string
		for _, p := range done {
			if o, ok := fetched.Lookup(p.Topic, p.Partition); !ok || o.At != p.Offset {
				wrong = append(wrong, fmt.Sprintf("group offset of %s[%d] = %+v, want %d", p.Topic, p.Partition, o, p.Offset))
			}
		}
		if len(wrong) == 0 {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("%v", wrong)
		}
	}
}

func TestStartOffsetAtOpen(t *testing.T) {
	base := int64(1_700_000_000_000)
	for _, tc := range []struct {
		start string
		next  int64
	}{
		{config.StartEarliest, 0},
		{config.StartLatest, 3},
		{time.UnixMilli(base + 1000).UTC().Format(time.RFC3339), 1},
		{time.UnixMilli(base + 1500).UTC().Format(time.RFC3339Nano), 2},
		{time.UnixMilli(base + 9000).UTC().Format(time.RFC3339), 3}, // after every record: the end
	} {
		t.Run(tc.start, func(t *testing.T) {
			e := newEnv(t)
			e.createTopic("in", 1)
			e.produce(rec("in", 0, base, "0"), rec("in", 0, base+1000, "1"), rec("in", 0, base+2000, "2"))
			cfg := e.config("in")
			cfg.Source.StartOffset = tc.start
			src := e.open(cfg, 0, 1, nil)
			if got := src.Positions(); len(got) != 1 || got[0].Offset != tc.next {
				t.Fatalf("positions = %v, want offset %d", got, tc.next)
			}
			e.produce(rec("in", 0, base+3000, "3"))
			recs, _ := e.pollN(src, int(4-tc.next))
			if recs[0].Offset != tc.next {
				t.Fatalf("first record read at %d, want %d", recs[0].Offset, tc.next)
			}
		})
	}
}

func TestEventTime(t *testing.T) {
	e := newEnv(t)
	e.createTopic("in", 1)
	const kafkaTS = 5000
	values := []struct {
		value string
		want  int64
	}{
		{`{"ts": 1234, "x": 1}`, 1234},
		{`{"ts": "2024-01-01T00:00:00.5Z"}`, time.Date(2024, 1, 1, 0, 0, 0, 5e8, time.UTC).UnixMilli()},
		{`{"ts": "2024-01-01T01:00:00+01:00"}`, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()},
		{`{"ts": 12.9}`, 12},
		{`{"other": 1}`, kafkaTS}, // missing: Kafka timestamp
		{`not json`, kafkaTS},     // not an object
		{`{"ts": "yesterday"}`, kafkaTS},
		{`{"ts": true}`, kafkaTS},
		{`{"nested": {"ts": 1}}`, kafkaTS}, // top-level fields only
	}
	for _, v := range values {
		e.produce(rec("in", 0, kafkaTS, v.value))
	}
	t.Run("field", func(t *testing.T) {
		cfg := e.config("in")
		cfg.Source.EventTime.Field = "ts"
		recs, _ := e.pollN(e.open(cfg, 0, 1, nil), len(values))
		for i, r := range recs {
			if r.Timestamp != values[i].want {
				t.Errorf("%s: event time %d, want %d", r.Value, r.Timestamp, values[i].want)
			}
		}
	})
	t.Run("kafka timestamp", func(t *testing.T) {
		recs, _ := e.pollN(e.open(e.config("in"), 0, 1, nil), len(values))
		for _, r := range recs {
			if r.Timestamp != kafkaTS {
				t.Errorf("%s: event time %d, want %d", r.Value, r.Timestamp, kafkaTS)
			}
		}
	})
}

func TestWatermarkOutOfOrdernessAndIdleness(t *testing.T) {
	e := newEnv(t)
	e.createTopic("in", 2)
	cfg := e.config("in")
	cfg.Source.DiscoveryInterval = 0
	cfg.Source.Watermark.MaxOutOfOrderness = 5 * time.Second
	cfg.Source.Watermark.IdleTimeout = 10 * time.Second
	src := e.open(cfg, 0, 1, nil)
	const unknown = math.MinInt64
	step := func(name string, wm, want int64) {
		t.Helper()
		if wm != want {
			t.Fatalf("%s: watermark %d, want %d", name, wm, want)
		}
	}

	e.produce(rec("in", 0, 100_000, ""))
	_, wm := e.pollN(src, 1)
	step("in[1] never read and not idle", wm, unknown)

	e.clock.Advance(6 * time.Second)
	e.produce(rec("in", 0, 90_000, ""))
	_, wm = e.pollN(src, 1)
	step("out of order record", wm, unknown)

	// t=11s: in[1] idle (assigned at 0), in[0] not (last record at 6s).
	e.clock.Advance(5 * time.Second)
	begin := time.Now()
	recs, wm := e.pollFor(src, 10*time.Second)
	if len(recs) > 0 || time.Since(begin) > 5*time.Second {
		t.Fatalf("poll after in[1] went idle: %d records after %s; want none, at once", len(recs), time.Since(begin))
	}
	step("in[1] idle", wm, 100_000-5000-1)

	e.produce(rec("in", 1, 50_000, ""))
	_, wm = e.pollN(src, 1)
	step("in[1] active again, behind", wm, 94_999)

	e.produce(rec("in", 0, 160_000, ""), rec("in", 1, 200_000, ""))
	_, wm = e.pollN(src, 2)
	step("both active", wm, 154_999)

	e.clock.Advance(10 * time.Second)
	_, wm = e.pollFor(src, 10*time.Second)
	step("all idle: the maximum", wm, 194_999)
	step("nothing more", e.quiet(src), 194_999)
}

// TestPollWakesWhenWorkIsDue checks that a blocked Poll returns by itself
// when discovery is due or a partition is about to go idle, even with no
// partitions to read.
func TestPollWakesWhenWorkIsDue(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Source.TopicRegex = "in.*"
	cfg.Source.Watermark.IdleTimeout = 10 * time.Second // < the discovery interval
	src := e.open(cfg, 0, 1, nil)                       // no topic matches yet
	wakes := func(what string) {
		t.Helper()
		begin := time.Now()
		recs, _ := e.pollFor(src, 20*time.Second)
		if len(recs) > 0 || time.Since(begin) > 10*time.Second {
			t.Fatalf("%s: poll returned %d records after %s; want none, in about 20ms", what, len(recs), time.Since(begin))
		}
	}
	e.clock.Advance(cfg.Source.DiscoveryInterval - 20*time.Millisecond)
	wakes("discovery due, no partitions")

	e.createTopic("in", 1)
	e.clock.Advance(20 * time.Millisecond)
	e.quiet(src) // discovers in[0]
	if got := src.Positions(); len(got) != 1 {
		t.Fatalf("positions = %v", got)
	}
	e.clock.Advance(cfg.Source.Watermark.IdleTimeout - 20*time.Millisecond)
	wakes("partition about to go idle")
}
