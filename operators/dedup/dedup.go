package dedup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/tidemark/tidemark/expression"
	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/internal/rowcodec"
	"github.com/tidemark/tidemark/operators/state"
	"github.com/tidemark/tidemark/plugin"
)

// Dedup is the dedup operator (see the package doc). Records arrive keyed
// by the dedup key (the planner sets Record.Key from key).
type Dedup struct {
	path      string
	keepLast  bool
	eventTime bool
	ttl       time.Duration

	name      string
	reject    func(operators.Record, error)
	backend   *state.Backend
	rows      *state.Value[[]byte]
	dec       rowcodec.Decoder
	buf       []byte
	lastPurge time.Time
	// cache holds the kept rows of recent keys, decoded, when rows never
	// expire (no ttl): the operator alone writes its state, so the cache
	// is the state, without reading and decoding it.
	cache map[string]kept
}

// kept is a key's kept row: its event time and the record (unless only
// the first row by arrival is kept).
type kept struct {
	ts  int64
	rec operators.Record
}

// cacheKeys bounds the keys whose kept row a Dedup caches.
const cacheKeys = 1 << 16

// Open implements operators.Operator.
func (d *Dedup) Open(_ context.Context, oc operators.OpenContext) error {
	d.name = oc.Name
	d.reject = oc.Reject
	if d.reject == nil {
		d.reject = func(operators.Record, error) {}
	}
	d.backend = oc.State
	d.rows = state.NewValue(oc.State, oc.Name, "row", state.Bytes{}, state.WithTTL(d.ttl))
	if d.ttl <= 0 {
		d.cache = map[string]kept{}
	}
	if oc.Now != nil {
		d.lastPurge = oc.Now()
	}
	return nil
}

// rowOnly: only the first row by arrival is kept, which never needs the
// stored row back.
func (d *Dedup) rowOnly() bool { return !d.keepLast && !d.eventTime }

// Process implements operators.Operator.
func (d *Dedup) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for i := range recs {
		r := &recs[i]
		if r.Kind != operators.Insert {
			d.reject(*r, fmt.Errorf("%s: a %s record: dedup takes an append-only input (inserts only)", d.path, r.Kind))
			continue
		}
		old, ok, err := d.get(r.Key)
		if err != nil {
			return err
		}
		if ok {
			replace := false
			switch {
			case d.rowOnly(): // first by arrival: the kept row stays
			case !d.eventTime: // last by arrival
				replace = true
			case d.keepLast: // Flink: stored.t <= cur.t, the later arrival wins ties
				replace = old.ts <= r.Timestamp
			default: // first by event time: cur.t < stored.t, the kept row wins ties
				replace = r.Timestamp < old.ts
			}
			if !replace {
				continue
			}
		}
		rec := *r
		rec.Kind = operators.Insert
		if rec.Data != nil {
			rec.Value = nil // as the row reads back from state
		}
		d.buf = binary.AppendVarint(d.buf[:0], r.Timestamp)
		if !d.rowOnly() {
			if d.buf, err = rowcodec.Append(d.buf, &rec); err != nil {
				d.reject(*r, fmt.Errorf("%s: %w", d.path, err))
				continue
			}
		}
		if err := d.rows.Put(r.Key, d.buf); err != nil {
			return err
		}
		if d.cache != nil {
			if len(d.cache) >= cacheKeys {
				clear(d.cache)
			}
			k := kept{ts: r.Timestamp}
			if !d.rowOnly() {
				k.rec = rec
			}
			d.cache[string(r.Key)] = k
		}
		if ok {
			old.rec.Kind = operators.UpdateBefore
			out.Emit(old.rec)
			rec.Kind = operators.UpdateAfter
		}
		out.Emit(rec)
	}
	return nil
}

// get returns the kept row of key, from the cache or from state.
func (d *Dedup) get(key []byte) (kept, bool, error) {
	if k, ok := d.cache[string(key)]; ok {
		return k, true, nil
	}
	stored, ok, err := d.rows.Get(key)
	if err != nil || !ok {
		return kept{}, false, err
	}
	ts, row, err := splitTime(stored)
	if err != nil {
		return kept{}, false, fmt.Errorf("dedup %s: key %q: %w", d.name, key, err)
	}
	k := kept{ts: ts}
	if !d.rowOnly() {
		if k.rec, err = d.dec.Decode(row); err != nil {
			return kept{}, false, fmt.Errorf("dedup %s: key %q: %w", d.name, key, err)
		}
	}
	return k, true, nil
}

func splitTime(b []byte) (int64, []byte, error) {
	ts, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, errors.New("corrupt dedup row: no time")
	}
	return ts, b[n:], nil
}

// OnProcessingTime implements operators.ProcessingTimer: with a ttl,
// once per ttl it deletes the expired rows of the task's state (they
// read as absent anyway; this frees their space).
func (d *Dedup) OnProcessingTime(_ context.Context, now time.Time, _ operators.Collector) error {
	if d.ttl <= 0 || now.Sub(d.lastPurge) < max(d.ttl, time.Minute) {
		return nil
	}
	d.lastPurge = now
	if _, err := d.backend.PurgeExpired(); err != nil {
		return fmt.Errorf("dedup %s: %w", d.name, err)
	}
	return nil
}

// OnWatermark implements operators.Operator.
func (d *Dedup) OnWatermark(context.Context, int64, operators.Collector) error { return nil }

// SnapshotState implements operators.Operator.
func (d *Dedup) SnapshotState(context.Context, int64) error { return nil }

// NotifyCheckpointComplete implements operators.Operator.
func (d *Dedup) NotifyCheckpointComplete(context.Context, int64) error { return nil }

// Close implements operators.Operator.
func (d *Dedup) Close() error { return nil }

var _ operators.ProcessingTimer = (*Dedup)(nil)

// Register adds the operator type dedup to env.
func Register(env *plugin.Environment) error {
	return env.RegisterOperator("dedup", Spec(), New)
}

// Spec returns the spec of dedup.
func Spec() *plugin.ConfigSpec {
	return plugin.NewConfigSpec().
		Summary("Keeps one row per key: the first or the last, by arrival or by event time.").
		Description("Flink SQL's deduplication (`ROW_NUMBER() OVER (PARTITION BY key ORDER BY …) = 1`) "+
			"over an append-only input. `keep: first, order: arrival` emits the first row of each key "+
			"(an insert) and drops the rest: the output is append. Otherwise the output is updating: "+
			"the first row is an insert, and each row that replaces the kept one emits an "+
			"update-before of the old row and an update-after of the new one. A row replaces the kept "+
			"one always (`last`, `arrival`), when its event time is later or equal (`last`, "+
			"`event_time`: of equal times the later arrival wins), or when it is strictly earlier "+
			"(`first`, `event_time`: of equal times the kept row stays). Output key = the dedup key "+
			"(write the updating output with a sink in `mode: upsert`). With `ttl`, a key's row is "+
			"forgotten that long (processing time) after it was last written, and the key's next row "+
			"counts as its first again (an insert). An update or delete record goes to the dead-letter "+
			"topic.").
		Fields(
			plugin.NewExprListField("key", expression.RecordContext).
				Description("What rows are deduplicated by: an expression, or a list of them (a composite key).").
				Example("value.order_id").Example([]string{"value.bidder", "value.auction"}).Fingerprint(),
			plugin.NewStringEnumField("keep", "first", "last").Default("first").
				Description("Keep the first row of each key, or the last.").Fingerprint(),
			plugin.NewStringEnumField("order", "arrival", "event_time").Default("arrival").
				Description("What first and last mean: the order rows arrive in, or their event time (`timestamp`).").Fingerprint(),
			plugin.NewDurationField("ttl").Default("0s").
				Description("Forget a key's row this long after it was last written (processing time); `0s` keeps it forever."),
		).
		Keyed("key").
		PreservesKey(func(*plugin.ParsedConfig) bool { return true }).
		Check(func(c *plugin.ParsedConfig) error {
			if ttl, _ := c.FieldDuration("ttl"); ttl < 0 {
				return plugin.FieldErrorf("ttl", "must not be negative, got %s", ttl)
			}
			return nil
		}).
		Changelog(func(c *plugin.ParsedConfig, in []plugin.Mode) (plugin.Mode, error) {
			if in[0] == plugin.Updating {
				return 0, errors.New("dedup needs an append input: it keeps rows as they arrive and cannot take one back")
			}
			keep, _ := c.FieldString("keep")
			order, _ := c.FieldString("order")
			if keep == "first" && order == "arrival" {
				return plugin.Append, nil
			}
			return plugin.Updating, nil
		}).
		Example("Drop repeated orders (at-least-once producers) for a day", "type: dedup\nfrom: orders\nkey: value.order_id\nttl: 24h").
		Example("Nexmark q18: the last bid of each bidder on each auction", "name: q18\ntype: dedup\nfrom: bid\nkey: [value.bidder, value.auction]\nkeep: last\norder: event_time")
}

// New builds a dedup from its parsed configuration.
func New(c *plugin.ParsedConfig, _ *plugin.Resources) (operators.Operator, error) {
	d := &Dedup{path: c.Path()}
	if d.path == "" {
		d.path = "dedup"
	}
	keep, err := c.FieldString("keep")
	if err != nil {
		return nil, err
	}
	order, err := c.FieldString("order")
	if err != nil {
		return nil, err
	}
	if d.ttl, err = c.FieldDuration("ttl"); err != nil {
		return nil, err
	}
	d.keepLast, d.eventTime = keep == "last", order == "event_time"
	return d, nil
}
