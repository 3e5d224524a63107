package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"go.uber.org/zap"
)

// Repair works around two bugs in the crash recovery of kfake
// (github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c,
// the newest the module proxy serves), which runs when a broker with a data
// dir was not closed (its process was killed), and which no newer kfake
// fixes. It must run right after the broker loaded its data, before any
// client produces or consumes; it is idempotent.
//
//  1. Aborted without a marker. persist.go, loadPartitionFullReplay: a
//     transaction that has records in a partition but no control batch
//     (it was open at the crash) is aborted in memory only: an
//     abortedTxns entry (producer id, first offset, last offset) is added
//     and the producer's epoch bumped, but no ABORT control batch is
//     written to the log. Kafka's read_committed protocol is client-side:
//     a fetch lists aborted transactions as (producer id, first offset),
//     and the client (kgo's aborter, the Java consumer alike) drops that
//     producer's transactional batches from the first offset on until it
//     reads an ABORT marker of that producer. With none in the log, every
//     later transaction of the same producer id (kfake keeps one producer
//     id per transactional id and bumps the epoch), committed or not, is
//     hidden from read_committed consumers for good. And because the
//     partition snapshot is stale after a crash, the next crash's full
//     replay merges the unmarked records into that producer's next
//     committed transaction (its COMMIT marker ends the "active"
//     transaction that started at the unmarked records), so records that
//     were aborted become visible as committed. Repair writes the missing
//     ABORT marker (WriteTxnMarkers) into each such partition: the range
//     it closes then holds only the aborted transaction's records.
//  2. Commit outcome forgotten. persist.go, loadPIDsLog: an "init" entry
//     replaces the producer's state and sets lastWasCommit only from the
//     entry's Commit field, which the "init" entries written by
//     txns.go doEnd after its KIP-890 epoch bump (EndTxn v5) do not carry.
//     So after a crash, a producer whose last transaction was committed
//     replays as "last transaction aborted", and a retried EndTxn(commit)
//     with the transaction's epoch (the KIP-890 retry that a real broker
//     answers with success) gets INVALID_TXN_STATE: a committed
//     transaction looks lost. (A clean Close rewrites pids.log with the
//     Commit field, so only crashes are affected.) Repair finds each
//     producer whose newest marker in the logs is a COMMIT at the epoch
//     just below its current one, and restores the outcome with an empty
//     transaction committed at the current epoch without an epoch bump
//     (AddOffsetsToTxn, then EndTxn v4), which sets lastWasCommit again.
//
// A third difference cannot be repaired: transactions open at the crash
// are aborted (Kafka keeps them, until their timeout, in its transaction
// log), so a transaction pre-committed for a checkpoint is lost if the
// broker itself is killed; the sink's recovery then restores an older
// checkpoint. That is why the processor runs the broker in a child
// process (Spawn) that closes it cleanly when the processor is killed.
func Repair(ctx context.Context, addrs []string, log *zap.Logger) error {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(int16(kmsg.Fetch), 12) // topic names, not ids
	vs.SetMaxKeyVersion(int16(kmsg.EndTxn), 4) // no epoch bump
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.MaxVersions(vs))
	if err != nil {
		return fmt.Errorf("embedded: repair client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	logs, err := scanLogs(ctx, cl, adm)
	if err != nil {
		return fmt.Errorf("embedded: repair: %w", err)
	}
	txns, err := producers(ctx, adm)
	if err != nil {
		return fmt.Errorf("embedded: repair: %w", err)
	}

	aborted, err := writeAborts(ctx, cl, logs, txns, log)
	if err != nil {
		return err
	}
	restored, err := restoreCommits(ctx, cl, logs, txns, log)
	if err != nil {
		return err
	}
	switch {
	case aborted > 0:
		log.Warn("embedded broker repaired after an unclean stop: the transactions open when it was killed are aborted",
			zap.Int("abort_markers_written", aborted), zap.Int("commit_outcomes_restored", restored))
	case restored > 0:
		log.Info("embedded broker repaired after an unclean stop", zap.Int("commit_outcomes_restored", restored))
	default:
		log.Info("embedded broker: no transaction state to repair")
	}
	return nil
}

type topicPartition struct {
	Topic     string
	Partition int32
}

// txnState is what the logs say about one producer id.
type txnState struct {
	// open: partitions holding its transactional records after its last
	// control batch there, with those records' epoch.
	open map[topicPartition]int16
	// The newest control batch (highest epoch) of the producer anywhere.
	markerEpoch int16
	commit      bool
	marked      bool
}

// scanLogs reads every partition's log from its start, control batches
// included, and returns the state of every transactional producer id.
func scanLogs(ctx context.Context, cl *kgo.Client, adm *kadm.Client) (map[int64]*txnState, error) {
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics.Names()...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics.Names()...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	states := map[int64]*txnState{}
	state := func(pid int64) *txnState {
		s := states[pid]
		if s == nil {
			s = &txnState{open: map[topicPartition]int16{}}
			states[pid] = s
		}
		return s
	}
	var scanErr error
	starts.Each(func(o kadm.ListedOffset) {
		if scanErr != nil {
			return
		}
		end, _ := ends.Lookup(o.Topic, o.Partition)
		tp := topicPartition{Topic: o.Topic, Partition: o.Partition}
		scanErr = scanPartition(ctx, cl, tp, o.Offset, end.Offset, func(b *kmsg.RecordBatch) error {
			if b.Attributes&0x10 == 0 { // not transactional
				return nil
			}
			s := state(b.ProducerID)
			if b.Attributes&0x20 == 0 { // records
				if _, ok := s.open[tp]; !ok {
					s.open[tp] = b.ProducerEpoch
				}
				return nil
			}
			delete(s.open, tp)
			var rec kmsg.Record
			if err := rec.ReadFrom(b.Records); err != nil || len(rec.Key) < 4 {
				return fmt.Errorf("%s[%d] offset %d: unreadable control record", tp.Topic, tp.Partition, b.FirstOffset)
			}
			if !s.marked || b.ProducerEpoch >= s.markerEpoch {
				s.marked, s.markerEpoch = true, b.ProducerEpoch
				s.commit = binary.BigEndian.Uint16(rec.Key[2:4]) == 1
			}
			return nil
		})
	})
	return states, scanErr
}

// scanPartition calls visit for each record batch of tp in [from, to).
func scanPartition(ctx context.Context, cl *kgo.Client, tp topicPartition, from, to int64, visit func(*kmsg.RecordBatch) error) error {
	maxBytes := int32(1 << 20)
	for off := from; off < to; {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 0, maxBytes
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = tp.Topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = tp.Partition, off, maxBytes
		rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return fmt.Errorf("fetch %s[%d] at %d: %w", tp.Topic, tp.Partition, off, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return fmt.Errorf("fetch %s[%d] at %d: unexpected response", tp.Topic, tp.Partition, off)
		}
		p := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			return fmt.Errorf("fetch %s[%d] at %d: %w", tp.Topic, tp.Partition, off, err)
		}
		raw, n := p.RecordBatches, 0
		for len(raw) >= 12 {
			size := 12 + int(int32(binary.BigEndian.Uint32(raw[8:12])))
			if size < 12 || size > len(raw) {
				break // a partial batch at the end of the response
			}
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw[:size]); err != nil {
				return fmt.Errorf("%s[%d] near offset %d: %w", tp.Topic, tp.Partition, off, err)
			}
			raw = raw[size:]
			if next := b.FirstOffset + int64(b.LastOffsetDelta) + 1; next > off {
				if err := visit(&b); err != nil {
					return err
				}
				off = next
				n++
			}
		}
		if n == 0 {
			if maxBytes >= 256<<20 {
				return fmt.Errorf("fetch %s[%d] at %d: no progress", tp.Topic, tp.Partition, off)
			}
			maxBytes *= 4 // a batch larger than the limit
		}
	}
	return nil
}

// producer is the coordinator's view of a transactional id.
type producer struct {
	txnID string
	epoch int16
	state string
}

func producers(ctx context.Context, adm *kadm.Client) (map[int64]producer, error) {
	listed, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	out := map[int64]producer{}
	if len(listed) == 0 {
		return out, nil
	}
	described, err := adm.DescribeTransactions(ctx, listed.TransactionalIDs()...)
	if err != nil {
		return nil, fmt.Errorf("describe transactions: %w", err)
	}
	for _, d := range described {
		if d.Err != nil {
			return nil, fmt.Errorf("describe transaction %s: %w", d.TxnID, d.Err)
		}
		out[d.ProducerID] = producer{txnID: d.TxnID, epoch: d.ProducerEpoch, state: d.State}
	}
	return out, nil
}

// writeAborts writes an ABORT marker into each partition that holds
// records of a transaction without one, unless the coordinator holds that
// transaction open (it was restored after a clean stop).
func writeAborts(ctx context.Context, cl *kgo.Client, logs map[int64]*txnState, txns map[int64]producer, log *zap.Logger) (int, error) {
	n := 0
	for _, pid := range sortedPIDs(logs) {
		s := logs[pid]
		if len(s.open) == 0 || txns[pid].state == "Ongoing" {
			continue
		}
		byEpoch := map[int16][]topicPartition{}
		for tp, epoch := range s.open {
			byEpoch[epoch] = append(byEpoch[epoch], tp)
		}
		for epoch, tps := range byEpoch {
			if s.marked && s.commit && s.markerEpoch == epoch {
				log.Warn("a transaction was committed on some partitions when the broker was killed; it stays aborted on the others",
					zap.String("transactional_id", txns[pid].txnID), zap.Int64("producer_id", pid), zap.Int16("epoch", epoch), zap.Int("partitions", len(tps)))
			}
			m := kmsg.NewWriteTxnMarkersRequestMarker()
			m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, false
			byTopic := map[string][]int32{}
			for _, tp := range tps {
				byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
			}
			for t, ps := range byTopic {
				mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
				mt.Topic, mt.Partitions = t, ps
				m.Topics = append(m.Topics, mt)
			}
			req := kmsg.NewPtrWriteTxnMarkersRequest()
			req.Markers = append(req.Markers, m)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return n, fmt.Errorf("embedded: repair: write abort markers for producer %d: %w", pid, err)
			}
			for _, rm := range resp.Markers {
				for _, rt := range rm.Topics {
					for _, rp := range rt.Partitions {
						if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
							return n, fmt.Errorf("embedded: repair: abort marker for producer %d on %s[%d]: %w", pid, rt.Topic, rp.Partition, err)
						}
						n++
					}
				}
			}
			log.Info("transaction open at the crash: abort marker written",
				zap.String("transactional_id", txns[pid].txnID), zap.Int64("producer_id", pid), zap.Int16("epoch", epoch), zap.Int("partitions", len(tps)))
		}
	}
	return n, nil
}

// repairGroup is the consumer group named in the empty transactions that
// restore a commit outcome; no offsets are ever committed to it.
const repairGroup = "tidemark-embedded-repair"

// restoreCommits restores "last transaction committed" for each producer
// whose newest marker is a COMMIT at the epoch just below its current one.
func restoreCommits(ctx context.Context, cl *kgo.Client, logs map[int64]*txnState, txns map[int64]producer, log *zap.Logger) (int, error) {
	n := 0
	for _, pid := range sortedPIDs(logs) {
		s, p := logs[pid], txns[pid]
		if p.txnID == "" || p.state != "Empty" || len(s.open) > 0 || !s.marked || !s.commit || s.markerEpoch+1 != p.epoch {
			continue
		}
		add := kmsg.NewPtrAddOffsetsToTxnRequest()
		add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = p.txnID, pid, p.epoch, repairGroup
		aresp, err := add.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(aresp.ErrorCode)
		}
		if err != nil {
			return n, fmt.Errorf("embedded: repair: restore the commit of %s: %w", p.txnID, err)
		}
		end := kmsg.NewPtrEndTxnRequest()
		end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = p.txnID, pid, p.epoch, true
		eresp, err := end.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(eresp.ErrorCode)
		}
		if err != nil {
			return n, fmt.Errorf("embedded: repair: restore the commit of %s: %w", p.txnID, err)
		}
		if end.Version > 4 {
			return n, errors.New("embedded: repair: EndTxn was sent above v4 and bumped an epoch")
		}
		n++
		log.Debug("commit outcome restored", zap.String("transactional_id", p.txnID), zap.Int64("producer_id", pid), zap.Int16("epoch", p.epoch))
	}
	return n, nil
}

func sortedPIDs(m map[int64]*txnState) []int64 {
	pids := make([]int64, 0, len(m))
	for pid := range m {
		pids = append(pids, pid)
	}
	sort.Slice(pids, func(i, j int) bool { return pids[i] < pids[j] })
	return pids
}
