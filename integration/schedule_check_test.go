package integration

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/integration/testenv"
)

// Input and output of the schedule's jobs. The input is what the input
// topic holds at the end (read back, so that a produce whose outcome was
// unknown during a broker restart counts as it turned out); every value is
// unique. The passthrough job must write every input value exactly once and
// nothing else; the count job must write, for each key with n input
// records, the counts 1..n exactly once each.

// seqProducer writes sequence-numbered records to a topic until stopped.
type seqProducer struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startProducer(ctx context.Context, t *testing.T, k testenv.KafkaEnv, topic string, job int) *seqProducer {
	cl := k.Client(t)
	ctx, cancel := context.WithCancel(ctx)
	p := &seqProducer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		// Asynchronous produces, paced by the ticker: the client batches
		// and retries until the broker answers (through a broker
		// restart); an error is a cancelled context, or a record whose
		// fate the read-back of the input decides.
		defer cl.Flush(context.WithoutCancel(ctx)) //nolint:errcheck // the read-back decides
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		seq := 0
		var failed atomic.Int64
		for {
			select {
			case <-ctx.Done():
				if n := failed.Load(); n > 0 {
					t.Logf("schedule: %d records to %s failed", n, topic)
				}
				return
			case <-tick.C:
			}
			for range max(inputRate/50, 1) {
				r := &kgo.Record{Topic: topic, Key: []byte(inputKey(job, seq)), Value: []byte(strconv.Itoa(seq))}
				cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
					if err != nil {
						failed.Add(1)
					}
				})
				seq++
			}
		}
	}()
	return p
}

func (p *seqProducer) stop() {
	p.cancel()
	<-p.done
}

func inputKey(job, seq int) string {
	if job == jobCount {
		return fmt.Sprintf("key-%03d", seq*7919%64)
	}
	return fmt.Sprintf("k%02d", seq%40)
}

// readAll reads topic from the start to its end offsets as they are now.
func readAllEach(ctx context.Context, t *testing.T, k testenv.KafkaEnv, topic string, each func(*kgo.Record)) error {
	adm := k.Admin(t)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl := k.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("read %s: %w (%d partitions unfinished)", topic, ctx.Err(), len(left))
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("read %s[%d]: %w", topic, p, err) })
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset < end {
				each(r)
				if r.Offset+1 >= end {
					delete(left, r.Partition)
				}
			}
		})
	}
	return nil
}

// checkOutput checks job j's committed output against its input.
func (s *sched) checkOutput(j *sjob) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Minute)
	defer cancel()
	values := map[string]string{} // value -> key
	want := map[string]int{}      // key -> records
	dupIn := 0
	err := readAllEach(ctx, s.t, s.kafka, j.in, func(r *kgo.Record) {
		v := string(r.Value)
		if _, ok := values[v]; ok {
			dupIn++
		}
		values[v] = string(r.Key)
		want[string(r.Key)]++
	})
	if err != nil {
		s.violation("read the input of %s: %v", jobNames[j.idx], err)
		return
	}
	if dupIn > 0 {
		s.t.Fatalf("the input of %s holds %d values twice: the producer misbehaved", jobNames[j.idx], dupIn)
	}
	total := len(values)

	// seen counts output records: by value (passthrough) or by key and
	// count (count).
	seenVal := map[string]int{}
	seenCount := map[string]map[int]int{}
	bad := 0
	reached := 0
	complete := func() bool {
		if j.idx == jobPass {
			return reached == total
		}
		return reached == len(want)
	}
	add := func(r *kgo.Record) {
		k, v := string(r.Key), string(r.Value)
		if j.idx == jobPass {
			seenVal[v]++
			if key, ok := values[v]; !ok || key != k {
				bad++
			} else if seenVal[v] == 1 {
				reached++
			}
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			bad++
			return
		}
		if seenCount[k] == nil {
			seenCount[k] = map[int]int{}
		}
		seenCount[k][n]++
		if n == want[k] && seenCount[k][n] == 1 {
			reached++
		}
	}
	cl := s.kafka.Client(s.t, kgo.ConsumeTopics(j.out), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	read := 0
	poll := func(ctx context.Context) (int, error) {
		fs := cl.PollFetches(ctx)
		var ferr error
		fs.EachError(func(tp string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("read %s[%d]: %w", tp, p, err)
			}
		})
		n := 0
		fs.EachRecord(func(r *kgo.Record) { n++; add(r) })
		read += n
		return n, ferr
	}
	began := time.Now()
	for !complete() {
		if _, err := poll(ctx); err != nil {
			s.violation("job %s: %v", jobNames[j.idx], err)
			return
		}
		if ctx.Err() != nil {
			break
		}
	}
	s.logf("  job %s: output complete: %v after %v (%d records read)", jobNames[j.idx], complete(), time.Since(began).Round(100*time.Millisecond), read)
	// Anything more already written would be a duplicate: read on until
	// nothing more comes for a while (the input has stopped).
	for ctx.Err() == nil {
		qctx, qcancel := context.WithTimeout(ctx, 4*time.Second)
		n, err := poll(qctx)
		qcancel()
		if err != nil {
			s.violation("job %s: %v", jobNames[j.idx], err)
			return
		}
		if n == 0 {
			break
		}
	}
	var dups, missing int
	if j.idx == jobPass {
		for v := range values {
			switch c := seenVal[v]; {
			case c == 0:
				missing++
			case c > 1:
				dups += c - 1
			}
		}
	} else {
		for k, n := range want {
			for c := 1; c <= n; c++ {
				switch x := seenCount[k][c]; {
				case x == 0:
					missing++
				case x > 1:
					dups += x - 1
				}
			}
			for c, x := range seenCount[k] {
				if c < 1 || c > n {
					bad += x
				}
			}
		}
		for k := range seenCount {
			if _, ok := want[k]; !ok {
				bad++
			}
		}
	}
	s.logf("  job %s: %d input records over %d keys, %d output records read: %d duplicated, %d missing, %d unexpected",
		jobNames[j.idx], total, len(want), read, dups, missing, bad)
	s.count(fmt.Sprintf("job %s: input records", jobNames[j.idx]), total)
	if dups != 0 || missing != 0 || bad != 0 {
		s.violation("exactly-once violated for job %s: %d duplicated, %d missing, %d unexpected of %d input records",
			jobNames[j.idx], dups, missing, bad, total)
	}
	// Nothing is malformed: the dead-letter topic stays empty.
	if dl, err := s.deadLetters(ctx, j); err != nil {
		s.violation("read the dead-letter topic of %s: %v", jobNames[j.idx], err)
	} else if dl > 0 {
		s.violation("job %s wrote %d dead letters for well-formed input", jobNames[j.idx], dl)
	}
}

// deadLetters counts the committed records of job j's dead-letter topic.
func (s *sched) deadLetters(ctx context.Context, j *sjob) (int, error) {
	ends, err := s.kafka.Admin(s.t).ListEndOffsets(ctx, j.dlq)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, err
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total == 0 {
		return 0, nil
	}
	cl := s.kafka.Client(s.t, kgo.ConsumeTopics(j.dlq), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	n := 0
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, 4*time.Second)
		fs := cl.PollFetches(qctx)
		cancel()
		got := 0
		fs.EachRecord(func(*kgo.Record) { got++ })
		n += got
		if got == 0 {
			break
		}
	}
	return n, nil
}
