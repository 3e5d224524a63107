package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
)

// DefaultMaxMessageBytes is Kafka's default message.max.bytes, assumed for
// a topic whose max.message.bytes the brokers do not report.
const DefaultMaxMessageBytes = 1048588

// batchOverhead bounds what a record batch of one record adds to the record
// itself: the v2 batch header (61 bytes, the part the broker measures), the
// length prefix kgo counts, and slack for the timestamp delta.
const batchOverhead = 96

// Limits are the largest record batches the sink's topics accept, read at
// start-up. The producer is capped at the same sizes, so a record that
// passes Fits is neither refused by the client nor, uncompressed, by the
// broker.
type Limits struct {
	batch map[string]int32
}

// BatchMax is the most bytes kgo may put in one batch for topic: the
// topic's max.message.bytes less 1/64 (room for a compression codec's
// framing on incompressible data), or kgo's own default for a topic the
// sink did not describe.
func (l *Limits) BatchMax(topic string) int32 {
	if l != nil {
		if b, ok := l.batch[topic]; ok {
			return b
		}
	}
	return 1000012 // kgo's default
}

// Fits reports the size r takes alone in a batch for topic and the most
// the topic accepts, and whether it fits.
func (l *Limits) Fits(topic string, r *kgo.Record) (size, limit int, ok bool) {
	size, limit = RecordSize(r), int(l.BatchMax(topic))
	return size, limit, size <= limit
}

// RecordSize is the size of r in a record batch of its own, uncompressed,
// batch header included (an upper bound of what kgo and the broker count).
func RecordSize(r *kgo.Record) int {
	n := 1 + 10 + 1 + // attributes, timestamp delta (at most), offset delta
		varintLen(len(r.Key)) + len(r.Key) + varintLen(len(r.Value)) + len(r.Value) +
		varintLen(len(r.Headers))
	for _, h := range r.Headers {
		n += varintLen(len(h.Key)) + len(h.Key) + varintLen(len(h.Value)) + len(h.Value)
	}
	return batchOverhead + varintLen(n) + n
}

// varintLen is the length of n as a zig-zag varint.
func varintLen(n int) int {
	u := uint64(n) << 1
	l := 1
	for u >= 0x80 {
		u >>= 7
		l++
	}
	return l
}

// Preflight checks, before the sink writes anything, that the sink topic
// and the dead-letter topic exist (a *MissingTopicError otherwise: the
// producer never creates topics, so it would retry for ever), and reads
// their max.message.bytes for Limits. Retriable answers are retried for
// about a minute; then the error is returned, and the job's restart
// strategy retries.
func Preflight(ctx context.Context, cfg *config.Config, cl *kgo.Client, log *zap.Logger) (*Limits, error) {
	adm := kadm.NewClient(cl)
	topics := []string{cfg.Sink.Topic, cfg.DeadLetterTopic()}
	keys := []string{"sink.topic", "sink.dead_letter_topic"}
	if cfg.Sink.DeadLetterTopic == "" {
		keys[1] = "sink.dead_letter_topic (default <sink.topic>-dead-letters)"
	}
	var missing MissingTopicError
	err := retry(ctx, func() error {
		missing = MissingTopicError{}
		md, err := adm.Metadata(ctx, topics...)
		if err != nil {
			return err
		}
		for i, t := range topics {
			td, ok := md.Topics[t]
			switch {
			case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
				missing.Topics = append(missing.Topics, t)
				missing.Keys = append(missing.Keys, keys[i])
			case td.Err != nil:
				return fmt.Errorf("topic %s (%s): %w", t, keys[i], td.Err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sink: metadata of the sink and dead-letter topics: %w", err)
	}
	if len(missing.Topics) > 0 {
		return nil, &missing
	}
	l := &Limits{batch: map[string]int32{}}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		log.Warn("cannot read the topics' max.message.bytes; assuming Kafka's default", zap.Strings("topics", topics), zap.Error(err))
	}
	for _, t := range topics {
		maxBytes := DefaultMaxMessageBytes
		rc, err := rcs.On(t, nil)
		if err == nil && rc.Err == nil {
			for _, c := range rc.Configs {
				if c.Key == "max.message.bytes" && c.Value != nil {
					if v, perr := strconv.Atoi(*c.Value); perr == nil && v > 0 {
						maxBytes = v
					}
				}
			}
		}
		b := int64(maxBytes) - int64(maxBytes)/64
		l.batch[t] = int32(min(max(b, 512), 1<<30))
	}
	log.Debug("sink topics checked", zap.Any("batch_max_bytes", l.batch))
	return l, nil
}
