package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
)

// Kafka is the source of one source task: it reads the partitions of the
// configured topics whose index in (topic, partition) order is congruent
// to its task index modulo the number of source tasks. Its positions are
// checkpointed state; it never reads the group's committed offsets, and
// commits them only when a checkpoint completes (for lag monitoring).
type Kafka struct {
	cfg   *config.Config
	base  []kgo.Opt
	task  int
	tasks int
	log   *zap.Logger

	cl   *kgo.Client
	adm  *kadm.Client
	next map[tp]int64 // next offset per assigned partition
	tps  []tp
}

type tp struct {
	topic     string
	partition int32
}

// NewKafka returns the source of source task task of tasks. base are the
// shared client options (brokers, TLS, SASL, logging).
func NewKafka(cfg *config.Config, base []kgo.Opt, task, tasks int, log *zap.Logger) *Kafka {
	return &Kafka{cfg: cfg, base: base, task: task, tasks: tasks, log: log}
}

// Open implements operators.Source: it finds its partitions, resolves where
// each starts (the restored position, else source.start_offset) and starts
// fetching.
func (k *Kafka) Open(ctx context.Context, restored []operators.Position) error {
	meta, err := kgo.NewClient(k.base...)
	if err != nil {
		return fmt.Errorf("source: client: %w", err)
	}
	defer meta.Close()
	adm := kadm.NewClient(meta)
	all, err := k.partitions(ctx, adm)
	if err != nil {
		return err
	}
	for i, p := range all {
		if i%k.tasks == k.task {
			k.tps = append(k.tps, p)
		}
	}
	k.next = map[tp]int64{}
	for _, p := range restored {
		t := tp{p.Topic, p.Partition}
		for _, mine := range k.tps {
			if mine == t {
				k.next[t] = p.Offset
			}
		}
	}
	if err := k.resolveStart(ctx, adm); err != nil {
		return err
	}
	assign := map[string]map[int32]kgo.Offset{}
	for _, p := range k.tps {
		if assign[p.topic] == nil {
			assign[p.topic] = map[int32]kgo.Offset{}
		}
		assign[p.topic][p.partition] = kgo.NewOffset().At(k.next[p])
	}
	opts := append(append([]kgo.Opt{}, k.base...), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if len(assign) > 0 {
		opts = append(opts, kgo.ConsumePartitions(assign))
	}
	if k.cl, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("source: client: %w", err)
	}
	k.adm = kadm.NewClient(k.cl)
	k.log.Info("source partitions assigned", zap.Int("task", k.task), zap.Int("partitions", len(k.tps)), zap.Int("restored", len(restored)))
	return nil
}

// partitions lists the partitions of the configured topics, sorted.
func (k *Kafka) partitions(ctx context.Context, adm *kadm.Client) ([]tp, error) {
	var topics kadm.TopicDetails
	var err error
	if k.cfg.Source.TopicRegex != "" {
		re := regexp.MustCompile("^(?:" + k.cfg.Source.TopicRegex + ")$")
		topics, err = adm.ListTopics(ctx)
		for name := range topics {
			if !re.MatchString(name) {
				delete(topics, name)
			}
		}
	} else {
		topics, err = adm.ListTopics(ctx, k.cfg.Source.Topics...)
	}
	if err != nil {
		return nil, fmt.Errorf("source: list topics: %w", err)
	}
	var out []tp
	for _, t := range topics.Sorted() {
		if t.Err != nil {
			return nil, fmt.Errorf("source: topic %s: %w", t.Topic, t.Err)
		}
		for _, p := range t.Partitions.Sorted() {
			out = append(out, tp{t.Topic, p.Partition})
		}
	}
	return out, nil
}

// resolveStart turns source.start_offset into an offset for every assigned
// partition without a restored position, so that positions are always
// concrete offsets.
func (k *Kafka) resolveStart(ctx context.Context, adm *kadm.Client) error {
	var topics []string
	seen := map[string]bool{}
	for _, p := range k.tps {
		if _, ok := k.next[p]; !ok && !seen[p.topic] {
			seen[p.topic] = true
			topics = append(topics, p.topic)
		}
	}
	if len(topics) == 0 {
		return nil
	}
	var listed kadm.ListedOffsets
	var err error
	switch k.cfg.Source.StartOffset {
	case config.StartEarliest:
		listed, err = adm.ListStartOffsets(ctx, topics...)
	case config.StartLatest:
		listed, err = adm.ListEndOffsets(ctx, topics...)
	default:
		t, terr := k.cfg.StartTime()
		if terr != nil {
			return fmt.Errorf("source.start_offset: %w", terr)
		}
		listed, err = adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topics...)
	}
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return fmt.Errorf("source: resolve start offsets (%s): %w", k.cfg.Source.StartOffset, err)
	}
	for _, p := range k.tps {
		if _, ok := k.next[p]; ok {
			continue
		}
		o, ok := listed.Lookup(p.topic, p.partition)
		if !ok {
			return fmt.Errorf("source: no start offset for %s[%d]", p.topic, p.partition)
		}
		k.next[p] = o.Offset
		k.log.Debug("partition starts at source.start_offset", zap.String("topic", p.topic), zap.Int32("partition", p.partition), zap.Int64("offset", o.Offset))
	}
	return nil
}

// Poll implements operators.Source.
func (k *Kafka) Poll(ctx context.Context) ([]operators.Record, int64, error) {
	if len(k.tps) == 0 {
		<-ctx.Done()
		return nil, math.MinInt64, nil
	}
	fs := k.cl.PollFetches(ctx)
	if fs.IsClientClosed() {
		return nil, math.MinInt64, errors.New("source: client closed")
	}
	var errs []error
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, fmt.Errorf("source: fetch %s[%d]: %w", t, p, err))
		}
	})
	if len(errs) > 0 {
		return nil, math.MinInt64, errors.Join(errs...)
	}
	recs := make([]operators.Record, 0, fs.NumRecords())
	fs.EachRecord(func(r *kgo.Record) {
		var hs []operators.Header
		for _, h := range r.Headers {
			hs = append(hs, operators.Header{Key: h.Key, Value: h.Value})
		}
		recs = append(recs, operators.Record{Key: r.Key, Value: r.Value, Headers: hs, Timestamp: r.Timestamp.UnixMilli(),
			Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		k.next[tp{r.Topic, r.Partition}] = r.Offset + 1
	})
	return recs, math.MinInt64, nil
}

// Positions implements operators.Source.
func (k *Kafka) Positions() []operators.Position {
	ps := make([]operators.Position, 0, len(k.tps))
	for _, p := range k.tps {
		ps = append(ps, operators.Position{Topic: p.topic, Partition: p.partition, Offset: k.next[p]})
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Topic != ps[j].Topic {
			return ps[i].Topic < ps[j].Topic
		}
		return ps[i].Partition < ps[j].Partition
	})
	return ps
}

// NotifyCheckpointComplete implements operators.Source: it commits the
// checkpoint's positions to the consumer group, for monitoring only.
func (k *Kafka) NotifyCheckpointComplete(ctx context.Context, _ int64, positions []operators.Position) error {
	if len(positions) == 0 {
		return nil
	}
	var os kadm.Offsets
	for _, p := range positions {
		os.AddOffset(p.Topic, p.Partition, p.Offset, -1)
	}
	resp, err := k.adm.CommitOffsets(ctx, k.cfg.ConsumerGroup(), os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("source: commit offsets to group %s: %w", k.cfg.ConsumerGroup(), err)
	}
	return nil
}

// Close implements operators.Source.
func (k *Kafka) Close() error {
	if k.cl != nil {
		k.cl.Close()
	}
	return nil
}
