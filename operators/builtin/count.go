package builtin

import (
	"context"
	"strconv"

	"github.com/tidemark/tidemark/operators"
	"github.com/tidemark/tidemark/operators/state"
)

// Count keeps a running count of records per key and emits, for every
// record, the record's key with the key's new count as a decimal value,
// keeping the record's timestamp and source position.
type Count struct {
	operators.Base
	counts *state.Value[int64]
}

// Open implements operators.Operator.
func (c *Count) Open(_ context.Context, oc operators.OpenContext) error {
	c.counts = state.NewValue(oc.State, oc.Name, "count", state.Int64{})
	return nil
}

// Process implements operators.Operator.
func (c *Count) Process(_ context.Context, recs []operators.Record, out operators.Collector) error {
	for _, r := range recs {
		n, _, err := c.counts.Get(r.Key)
		if err != nil {
			return err
		}
		n++
		if err := c.counts.Put(r.Key, n); err != nil {
			return err
		}
		// The source position goes along: a dead letter made of the count
		// says which input record produced it.
		out.Emit(operators.Record{Key: r.Key, Value: strconv.AppendInt(nil, n, 10), Timestamp: r.Timestamp,
			Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
	}
	return nil
}
