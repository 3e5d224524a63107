package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

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
// start-up for the topics known then and on first use for topics chosen
// per record. The producer is capped at the same sizes, so a record that
// passes Fits is neither refused by the client nor, uncompressed, by the
// broker. Safe for concurrent use (the producer asks BatchMax from its own
// goroutines).
type Limits struct {
	mu    sync.RWMutex
	batch map[string]int32
	// missing holds the topics found not to exist, and when.
	missing map[string]time.Time
}

// BatchMax is the most bytes kgo may put in one batch for topic: the
// topic's max.message.bytes less 1/64 (room for a compression codec's
// framing on incompressible data), or kgo's own default for a topic the
// sink did not describe.
func (l *Limits) BatchMax(topic string) int32 {
	if l != nil {
		l.mu.RLock()
		b, ok := l.batch[topic]
		l.mu.RUnlock()
		if ok {
			return b
		}
	}
	return 1000012 // kgo's default
}

// set records topic's max.message.bytes.
func (l *Limits) set(topic string, maxBytes int) {
	b := int64(maxBytes) - int64(maxBytes)/64
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.batch == nil {
		l.batch = map[string]int32{}
	}
	l.batch[topic] = int32(min(max(b, 512), 1<<30))
	delete(l.missing, topic)
}

// merge adds o's topics to l.
func (l *Limits) merge(o *Limits) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.batch == nil {
		l.batch = map[string]int32{}
	}
	for t, b := range o.batch {
		l.batch[t] = b
		delete(l.missing, t)
	}
}

// state says whether topic is known to exist, or was found missing less
// than MissingTopicRecheck ago.
func (l *Limits) state(topic string, now time.Time) (exists, missing bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if _, ok := l.batch[topic]; ok {
		return true, false
	}
	at, ok := l.missing[topic]
	return false, ok && now.Sub(at) < MissingTopicRecheck
}

func (l *Limits) setMissing(topic string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.missing == nil {
		l.missing = map[string]time.Time{}
	}
	l.missing[topic] = now
}

// MissingTopicRecheck is how long a topic chosen per record (topic_expr)
// that was found missing counts as missing before the sink asks the
// brokers again.
const MissingTopicRecheck = 10 * time.Second

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
	out := LegacyOutput(cfg)
	return preflight(ctx, cl, []Topic{{Name: cfg.Sink.Topic, Key: "sink.topic"}, {Name: out.DeadLetterTopic, Key: out.DeadLetterKey}}, log)
}

// preflight is Preflight of topics (duplicates allowed).
func preflight(ctx context.Context, cl *kgo.Client, topics []Topic, log *zap.Logger) (*Limits, error) {
	adm := kadm.NewClient(cl)
	var names []string
	seen := map[string]bool{}
	for _, t := range topics {
		if !seen[t.Name] {
			seen[t.Name] = true
			names = append(names, t.Name)
		}
	}
	var missing MissingTopicError
	err := retry(ctx, func() error {
		missing = MissingTopicError{}
		md, err := adm.Metadata(ctx, names...)
		if err != nil {
			return err
		}
		reported := map[string]bool{}
		for _, t := range topics {
			td, ok := md.Topics[t.Name]
			switch {
			case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
				if !reported[t.Name] {
					reported[t.Name] = true
					missing.Topics = append(missing.Topics, t.Name)
					missing.Keys = append(missing.Keys, t.Key)
				}
			case td.Err != nil:
				return fmt.Errorf("topic %s (%s): %w", t.Name, t.Key, td.Err)
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
	l := &Limits{}
	readMaxBytes(ctx, adm, l, names, log)
	log.Debug("sink topics checked", zap.Any("batch_max_bytes", l.batch))
	return l, nil
}

// readMaxBytes records the max.message.bytes of topics, which exist, in l
// (Kafka's default where the brokers do not say).
func readMaxBytes(ctx context.Context, adm *kadm.Client, l *Limits, topics []string, log *zap.Logger) {
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
		l.set(t, maxBytes)
	}
}

// lookup finds out whether topic, first met in a record (topic_expr),
// exists, and reads its max.message.bytes if so. A topic found missing
// stays missing for MissingTopicRecheck.
func (l *Limits) lookup(ctx context.Context, cl *kgo.Client, topic string, log *zap.Logger) (bool, error) {
	now := time.Now()
	if exists, missing := l.state(topic, now); exists || missing {
		return exists, nil
	}
	adm := kadm.NewClient(cl)
	var exists bool
	err := retry(ctx, func() error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		td, ok := md.Topics[topic]
		switch {
		case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			exists = false
		case td.Err != nil:
			return td.Err
		default:
			exists = true
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("sink: metadata of topic %s: %w", topic, err)
	}
	if !exists {
		l.setMissing(topic, now)
		log.Warn("a record's topic does not exist: its records go to the dead-letter topic", zap.String("topic", topic))
		return false, nil
	}
	readMaxBytes(ctx, adm, l, []string{topic}, log)
	return true, nil
}
