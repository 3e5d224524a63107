package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/operators"
)

// Kafka is the source of one source task. It reads the partitions of the
// configured topics (source.topics, or every topic matching
// source.topic_regex) that PartitionOwner gives to its task, and lists the
// topics again every source.discovery_interval to pick up partitions and
// topics that appeared since.
//
// Its positions (the next offset of every partition it owns) are
// checkpointed state. A partition with a restored position resumes there,
// whichever task read it before; any other partition starts at
// source.start_offset, resolved to a concrete offset when the partition is
// assigned (at Open, or when discovery finds it; with "latest", records
// written to a new partition before discovery finds it are skipped). It
// never reads the consumer group's offsets; it commits to the group only
// when a checkpoint completes, for lag monitoring.
//
// A record's event time (operators.Record.Timestamp) is its Kafka
// timestamp, or the value of source.event_time.field when that is set and
// the record's value holds it (a top-level field of a JSON object: epoch
// milliseconds, or an RFC 3339 string); a record whose field is missing or
// unreadable keeps its Kafka timestamp and is never dropped (the first is
// logged as a warning, the rest at debug level).
//
// The watermark Poll returns is the minimum over the partitions that are
// not idle of (largest event time read - source.watermark.max_out_of_orderness
// - 1 ms), unknown (math.MinInt64) while such a partition has delivered
// nothing; a partition is idle after source.watermark.idle_timeout without
// a record (0: never); when all are idle it is the maximum of theirs. It
// never goes backwards and is not checkpointed: after a restore it is
// derived anew. See watermarks for the details.
//
// All methods are called from the task's goroutine; the source starts no
// goroutine of its own beyond those of its Kafka client, and one that
// commits completed positions to the consumer group in the background
// (groupCommitter), which Close ends.
type Kafka struct {
	// src is the source's settings (a single-chain config's source:
	// translated, see config.LegacySource); key names them in messages
	// ("source", or "sources[<name>]"); group is the consumer group
	// offsets are committed to.
	src   config.SourceConfig
	key   string
	group string
	// graph reads values, keys and event times as a job graph's source
	// does; nil for a single-chain source.
	graph *graphReader
	base  []kgo.Opt
	task  int
	tasks int
	log   *zap.Logger
	now   func() time.Time

	topics   topics
	cl       *kgo.Client
	adm      *kadm.Client
	next     map[tp]int64 // next offset per assigned partition
	tps      []tp         // assigned partitions, sorted
	restored map[tp]int64 // every restored position, whichever task owned it
	pending  map[tp]int64 // restored positions of this task's partitions not found yet
	wms      *watermarks

	nextDiscovery time.Time // zero: discovery disabled
	fallbacks     int64     // records whose event-time field could not be read

	// stopAtEnd: a bounded run (stop_at: end): ends holds, per partition
	// assigned at Open, the last stable offset found then; records at or
	// after it are not read, and partitions found later are not read.
	stopAtEnd bool
	ends      map[tp]int64

	metrics *Metrics // nil: no lag metrics

	commits *groupCommitter // nil until the first completed checkpoint
}

// Option configures a Kafka source.
type Option func(*Kafka)

// WithClock makes the source read time from now: for idle partitions and
// discovery intervals. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(k *Kafka) { k.now = now }
}

// WithStopAtEnd makes the source bounded (stop_at: end): it reads each of
// its partitions up to the end (last stable offset) found at Open, and
// then reports Ended. Partitions that appear later are not read. Control
// records (transaction markers) are read, and skipped, so that a
// partition whose last entry is a marker still reaches its end.
func WithStopAtEnd() Option {
	return func(k *Kafka) { k.stopAtEnd = true }
}

// NewKafka returns the source of source task task of tasks. base are the
// shared client options (brokers, TLS, SASL, logging).
func NewKafka(cfg *config.Config, base []kgo.Opt, task, tasks int, log *zap.Logger, opts ...Option) *Kafka {
	k := &Kafka{src: cfg.LegacySource(), key: "source", group: cfg.ConsumerGroup(), base: base, task: task, tasks: tasks, log: log, now: time.Now}
	for _, o := range opts {
		o(k)
	}
	return k
}

// Open implements operators.Source: it finds its partitions, resolves where
// each starts (its restored position, else source.start_offset) and starts
// fetching. restored may hold the positions of every task: those of
// partitions this task does not own are ignored.
func (k *Kafka) Open(ctx context.Context, restored []operators.Position) (err error) {
	src := &k.src
	if k.topics, err = newTopics(src, k.key); err != nil {
		return err
	}
	k.next = map[tp]int64{}
	k.restored = map[tp]int64{}
	k.pending = map[tp]int64{}
	for _, p := range restored {
		t := tp{p.Topic, p.Partition}
		k.restored[t] = p.Offset
		if PartitionOwner(p.Topic, p.Partition, k.tasks) == k.task && k.topics.match(p.Topic) {
			k.pending[t] = p.Offset
		}
	}
	k.wms = newWatermarks(src.Watermark.MaxOutOfOrderness, src.Watermark.IdleTimeout)
	opts := append(slices.Clip(k.base), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if k.stopAtEnd {
		opts = append(opts, kgo.KeepControlRecords())
	}
	if k.cl, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("source: client: %w", err)
	}
	defer func() {
		if err != nil {
			k.cl.Close()
			k.cl, k.adm = nil, nil
		}
	}()
	k.adm = kadm.NewClient(k.cl)
	all, err := k.topics.partitions(ctx, k.cl)
	if err != nil {
		return err
	}
	now := k.now()
	if err = k.assign(ctx, all, now); err != nil {
		return err
	}
	if k.stopAtEnd {
		if err = k.findEnds(ctx); err != nil {
			return err
		}
	} else if src.DiscoveryInterval > 0 {
		k.nextDiscovery = now.Add(src.DiscoveryInterval)
	}
	if len(k.pending) > 0 {
		k.log.Warn("restored partitions not found in the cluster: keeping their positions until they appear",
			zap.Int("task", k.task), zap.Int("partitions", len(k.pending)))
	}
	// restored counts the partitions this task reads from a checkpointed
	// position, not every position the checkpoint holds (each task gets
	// them all).
	var resumed int
	for _, p := range k.tps {
		if _, ok := k.restored[p]; ok {
			resumed++
		}
	}
	k.log.Info("source partitions assigned", zap.Int("task", k.task), zap.Int("partitions", len(k.tps)),
		zap.Int("restored", resumed))
	return nil
}

// assign starts reading the partitions of all that this task owns and does
// not read yet, each at its restored position or at source.start_offset.
func (k *Kafka) assign(ctx context.Context, all []tp, now time.Time) error {
	var fresh []tp
	for _, p := range all {
		if _, ok := k.next[p]; !ok && PartitionOwner(p.topic, p.partition, k.tasks) == k.task {
			fresh = append(fresh, p)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	start, err := k.startOffsets(ctx, fresh)
	if err != nil {
		return err
	}
	add := map[string]map[int32]kgo.Offset{}
	for _, p := range fresh {
		o := start[p]
		k.next[p] = o
		k.position(p, o, -1)
		delete(k.pending, p)
		k.wms.add(p, now)
		if add[p.topic] == nil {
			add[p.topic] = map[int32]kgo.Offset{}
		}
		add[p.topic][p.partition] = kgo.NewOffset().At(o)
	}
	k.tps = append(k.tps, fresh...)
	slices.SortFunc(k.tps, compareTP)
	k.cl.AddConsumePartitions(add)
	k.lagAtAssign(ctx, fresh, start)
	return nil
}

// startOffsets says where each partition of ps starts: its restored
// position if there is one, else source.start_offset resolved to an
// offset, so that positions are always concrete.
func (k *Kafka) startOffsets(ctx context.Context, ps []tp) (map[tp]int64, error) {
	start := map[tp]int64{}
	var topics []string
	for _, p := range ps {
		if o, ok := k.restored[p]; ok {
			start[p] = o
			continue
		}
		if !slices.Contains(topics, p.topic) {
			topics = append(topics, p.topic)
		}
	}
	if len(topics) == 0 {
		return start, nil
	}
	var listed kadm.ListedOffsets
	var err error
	switch k.src.StartOffset {
	case config.StartEarliest:
		listed, err = k.adm.ListStartOffsets(ctx, topics...)
	case config.StartLatest:
		// The last stable offset: records of transactions still open
		// there are read once they commit, as read_committed does.
		listed, err = k.adm.ListCommittedOffsets(ctx, topics...)
	default:
		t, terr := k.src.StartTime()
		if terr != nil {
			return nil, fmt.Errorf("%s.start_offset: %w", k.key, terr)
		}
		listed, err = k.adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topics...)
	}
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("source: resolve start offsets (%s): %w", k.src.StartOffset, err)
	}
	for _, p := range ps {
		if _, ok := start[p]; ok {
			continue
		}
		o, ok := listed.Lookup(p.topic, p.partition)
		if !ok || o.Offset < 0 {
			return nil, fmt.Errorf("source: no start offset (%s) for %s[%d]", k.src.StartOffset, p.topic, p.partition)
		}
		start[p] = o.Offset
		k.log.Debug("partition starts at source.start_offset", zap.String("topic", p.topic), zap.Int32("partition", p.partition), zap.Int64("offset", o.Offset))
	}
	return start, nil
}

// discover lists the topics again and starts reading the partitions that
// appeared. A failure is logged and retried at the next interval; one
// caused by ctx ending is retried at the next Poll.
func (k *Kafka) discover(ctx context.Context, now time.Time) {
	before := len(k.tps)
	all, err := k.topics.partitions(ctx, k.cl)
	if err == nil || len(all) > 0 {
		if aerr := k.assign(ctx, all, now); aerr != nil {
			err = errors.Join(err, aerr)
		}
	}
	if err != nil && ctx.Err() != nil {
		return
	}
	k.nextDiscovery = now.Add(k.src.DiscoveryInterval)
	if err != nil {
		k.log.Warn("partition discovery failed; retrying at the next interval", zap.Int("task", k.task), zap.Error(err))
	}
	if added := len(k.tps) - before; added > 0 {
		k.log.Info("new partitions discovered", zap.Int("task", k.task), zap.Int("added", added), zap.Int("partitions", len(k.tps)))
	}
}

// Poll implements operators.Source. Besides records and ctx, it returns
// when its watermark advances (a partition went idle) and when discovery is
// due, possibly with no records; discovery runs inside Poll.
func (k *Kafka) Poll(ctx context.Context) ([]operators.Record, int64, error) {
	now := k.now()
	if !k.nextDiscovery.IsZero() && !now.Before(k.nextDiscovery) && ctx.Err() == nil {
		k.discover(ctx, now)
	}
	if k.wms.update(now) {
		return nil, k.wms.current, nil
	}
	wctx, cancel := k.waitContext(ctx, now)
	defer cancel()
	if len(k.tps) == 0 {
		<-wctx.Done()
		return nil, k.wms.current, nil
	}
	fs := k.cl.PollFetches(wctx)
	if fs.IsClientClosed() {
		return nil, k.wms.current, errors.New("source: client closed")
	}
	var errs []error
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, fmt.Errorf("source: fetch %s[%d]: %w", t, p, err))
		}
	})
	if len(errs) > 0 {
		return nil, k.wms.current, errors.Join(errs...)
	}
	now = k.now()
	recs := make([]operators.Record, 0, fs.NumRecords())
	// Keys, values and header values are copied into one buffer per
	// poll, so that the records do not pin the fetched (decompressed)
	// buffers, which hold whole batches, while they travel between tasks:
	// those go as soon as this returns (issue 11: they were a third of
	// the live heap).
	arena := make([]byte, 0, fetchPayload(fs))
	own := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		n := len(arena)
		arena = append(arena, b...)
		return arena[n:len(arena):len(arena)]
	}
	// Positions and event-time maxima change once per partition per poll,
	// not per record.
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		end := fp.LastStableOffset
		if end < 0 {
			end = fp.HighWatermark
		}
		if len(fp.Records) == 0 {
			if n, ok := k.next[tp{fp.Topic, fp.Partition}]; ok {
				k.position(tp{fp.Topic, fp.Partition}, n, end)
			}
			return
		}
		maxTS := int64(math.MinInt64)
		stop, bounded := k.ends[tp{fp.Topic, fp.Partition}]
		for _, r := range fp.Records {
			if r.Attrs.IsControl() || bounded && r.Offset >= stop {
				continue
			}
			var hs []operators.Header
			for _, h := range r.Headers {
				hs = append(hs, operators.Header{Key: h.Key, Value: own(h.Value)})
			}
			rec := operators.Record{Key: own(r.Key), Value: own(r.Value), Headers: hs,
				Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
			if k.graph != nil {
				rec.Timestamp = r.Timestamp.UnixMilli()
				if !k.graph.read(&rec) {
					continue // rejected: a dead letter
				}
			} else {
				rec.Timestamp = k.eventTime(r)
			}
			maxTS = max(maxTS, rec.Timestamp)
			recs = append(recs, rec)
		}
		p := tp{fp.Topic, fp.Partition}
		k.next[p] = fp.Records[len(fp.Records)-1].Offset + 1
		if bounded {
			k.next[p] = min(k.next[p], stop)
		}
		k.position(p, k.next[p], end)
		if maxTS != math.MinInt64 {
			k.wms.observe(p, maxTS, now)
		}
	})
	k.wms.update(now)
	return recs, k.wms.current, nil
}

// fetchPayload is the bytes of the keys, values and header values of fs.
func fetchPayload(fs kgo.Fetches) int {
	n := 0
	fs.EachRecord(func(r *kgo.Record) {
		n += len(r.Key) + len(r.Value)
		for _, h := range r.Headers {
			n += len(h.Value)
		}
	})
	return n
}

// findEnds records the end of every assigned partition for a bounded run:
// its last stable offset (a read_committed reader reads nothing beyond).
func (k *Kafka) findEnds(ctx context.Context) error {
	k.ends = map[tp]int64{}
	var topics []string
	for _, p := range k.tps {
		if !slices.Contains(topics, p.topic) {
			topics = append(topics, p.topic)
		}
	}
	if len(topics) == 0 {
		return nil
	}
	listed, err := k.adm.ListCommittedOffsets(ctx, topics...)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return fmt.Errorf("source: stop_at end: list the end offsets of %v: %w", topics, err)
	}
	for _, p := range k.tps {
		o, ok := listed.Lookup(p.topic, p.partition)
		if !ok {
			return fmt.Errorf("source: stop_at end: no end offset for %s[%d]", p.topic, p.partition)
		}
		k.ends[p] = o.Offset
	}
	return nil
}

// Ended implements operators.BoundedSource: with WithStopAtEnd, every
// partition was read up to its end.
func (k *Kafka) Ended() bool {
	if !k.stopAtEnd {
		return false
	}
	for p, end := range k.ends {
		if k.next[p] < end {
			return false
		}
	}
	return true
}

// Idle implements operators.IdleSource: the source has no partition, or
// every partition is idle (source.watermark.idle_timeout), so downstream
// watermarks need not wait for it.
func (k *Kafka) Idle() bool {
	if k.wms == nil {
		return false
	}
	return len(k.tps) == 0 && len(k.pending) == 0 || k.wms.allIdle(k.now())
}

// waitContext bounds a wait in Poll by the next time something is due:
// discovery, or a partition going idle.
func (k *Kafka) waitContext(ctx context.Context, now time.Time) (context.Context, context.CancelFunc) {
	due, ok := k.wms.nextIdle(now)
	if !k.nextDiscovery.IsZero() && (!ok || k.nextDiscovery.Before(due)) {
		due, ok = k.nextDiscovery, true
	}
	if !ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, max(due.Sub(now), 0))
}

// eventTime is the event time of r: the source.event_time.field of its
// value when set and readable, else its Kafka timestamp.
func (k *Kafka) eventTime(r *kgo.Record) int64 {
	field := k.src.EventTime.Field
	if field == "" {
		return r.Timestamp.UnixMilli()
	}
	ts, err := eventTime(r.Value, field)
	if err == nil {
		return ts
	}
	k.fallbacks++
	lvl := zap.DebugLevel
	if k.fallbacks == 1 {
		lvl = zap.WarnLevel
	}
	if ce := k.log.Check(lvl, "record's event-time field unreadable: using its Kafka timestamp (further cases are logged at debug level)"); ce != nil {
		ce.Write(zap.String("topic", r.Topic), zap.Int32("partition", r.Partition), zap.Int64("offset", r.Offset),
			zap.Int64("fallbacks", k.fallbacks), zap.Error(err))
	}
	return r.Timestamp.UnixMilli()
}

// Positions implements operators.Source: the next offset of every partition
// the source owns, including restored ones not found in the cluster yet,
// sorted by topic and partition.
func (k *Kafka) Positions() []operators.Position {
	ps := make([]operators.Position, 0, len(k.tps)+len(k.pending))
	for _, p := range k.tps {
		ps = append(ps, operators.Position{Topic: p.topic, Partition: p.partition, Offset: k.next[p]})
	}
	for p, o := range k.pending {
		ps = append(ps, operators.Position{Topic: p.topic, Partition: p.partition, Offset: o})
	}
	slices.SortFunc(ps, func(a, b operators.Position) int {
		return compareTP(tp{a.Topic, a.Partition}, tp{b.Topic, b.Partition})
	})
	return ps
}

// NotifyCheckpointComplete implements operators.Source: it commits the
// checkpoint's positions to the consumer group, for monitoring only (those
// of restored partitions not found in the cluster yet are left out), in
// the background: a failed commit is logged, and the next checkpoint's
// commit covers it.
func (k *Kafka) NotifyCheckpointComplete(_ context.Context, _ int64, positions []operators.Position) error {
	if k.adm == nil {
		return nil
	}
	var os kadm.Offsets
	for _, p := range positions {
		if _, ok := k.next[tp{p.Topic, p.Partition}]; ok {
			os.AddOffset(p.Topic, p.Partition, p.Offset, -1)
		}
	}
	if len(os) == 0 {
		return nil
	}
	// In the background: the task goes on reading meanwhile.
	if k.commits == nil {
		k.commits = newGroupCommitter(k.adm, k.group, k.log)
	}
	k.commits.commit(os)
	return nil
}

// Close implements operators.Source. It may be called without Open, or
// after Open failed.
func (k *Kafka) Close() error {
	if k.commits != nil {
		k.commits.close()
		k.commits = nil
	}
	if k.cl != nil {
		k.cl.Close()
		k.cl, k.adm = nil, nil
	}
	return nil
}
