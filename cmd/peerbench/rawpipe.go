package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/internal/kafkabench"
)

// srcHeader is the header of every raw-pipe output naming its input
// record: partition (4 bytes) and offset (8 bytes), big-endian.
const srcHeader = "src"

// rawPipeMain is `peerbench rawpipe`: the raw franz-go pipe with a per-key
// count, as its own process. Pipe p counts the keys of its input
// partitions in its own map and writes key → count in transactions
// committed every -interval. Its output is its changelog: on start it
// fences its transactional ids (aborting what an earlier incarnation left
// open), reads its committed output to the end into the maps, and resumes
// each input partition after the last input offset found in the outputs'
// headers. It prints readyLine once it is about to read.
func rawPipeMain(args []string) error {
	var brokers, in, out, id string
	var pipes int
	var interval time.Duration
	fs := flag.NewFlagSet("peerbench rawpipe", flag.ContinueOnError)
	fs.StringVar(&brokers, "brokers", "", "Kafka seed brokers, comma-separated")
	fs.StringVar(&in, "in", "", "input topic")
	fs.StringVar(&out, "out", "", "output topic")
	fs.StringVar(&id, "id", "", "transactional id prefix")
	fs.IntVar(&pipes, "pipes", 2, "consume→count→produce loops")
	fs.DurationVar(&interval, "interval", time.Second, "transaction commit interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if brokers == "" || in == "" || out == "" || id == "" || pipes < 1 {
		return errors.New("give -brokers, -in, -out, -id and -pipes ≥ 1")
	}
	seeds := strings.Split(brokers, ",")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, in)
	if err == nil {
		err = td.Error()
	}
	if err != nil {
		return fmt.Errorf("topic %s: %w", in, err)
	}
	partitions := len(td[in].Partitions)

	counts := make([]map[string]int64, pipes)
	for i := range counts {
		counts[i] = map[string]int64{}
	}
	p, err := kafkabench.StartPipe(ctx, kafkabench.PipeConfig{
		Brokers: seeds, In: in, Out: out, Partitions: partitions, Pipes: pipes, ClientID: "peerbench-raw",
		TxnID: id, Interval: interval,
		Restore: func(ctx context.Context) (map[int32]int64, error) {
			return restoreCounts(ctx, cl, seeds, out, pipes, counts)
		},
		Map: func(pipe int, rec *kgo.Record) *kgo.Record {
			m := counts[pipe]
			n := m[string(rec.Key)] + 1
			m[string(rec.Key)] = n
			src := make([]byte, 12)
			binary.BigEndian.PutUint32(src, uint32(rec.Partition))
			binary.BigEndian.PutUint64(src[4:], uint64(rec.Offset))
			return &kgo.Record{Key: rec.Key, Value: strconv.AppendInt(nil, n, 10), Timestamp: rec.Timestamp,
				Headers: []kgo.RecordHeader{{Key: srcHeader, Value: src}}}
		},
	})
	if err != nil {
		return err
	}
	fmt.Println(readyLine)
	<-p.Done()
	return p.Err()
}

// restoreCounts reads topic out (read_committed) from its start to its
// end into counts (pipe p's map holds the keys of input partitions p,
// p+pipes, …) and returns, per input partition, the offset after the last
// one counted.
func restoreCounts(ctx context.Context, cl *kgo.Client, seeds []string, out string, pipes int, counts []map[string]int64) (map[int32]int64, error) {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, out)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", out, err)
	}
	parts := map[int32]kgo.Offset{}
	left := map[int32]int64{} // partition → its end offset, while not reached
	ends.Each(func(o kadm.ListedOffset) {
		parts[o.Partition] = kgo.NewOffset().At(0)
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	start := map[int32]int64{}
	if len(left) == 0 {
		return start, nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{out: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for len(left) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s to its end: %w", out, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("read %s[%d]: %w", t, p, err) })
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			for _, h := range r.Headers {
				if h.Key != srcHeader || len(h.Value) != 12 {
					continue
				}
				p := int32(binary.BigEndian.Uint32(h.Value))
				off := int64(binary.BigEndian.Uint64(h.Value[4:]))
				if off+1 > start[p] {
					start[p] = off + 1
				}
				n, err := strconv.ParseInt(string(r.Value), 10, 64)
				if err == nil {
					m := counts[int(p)%pipes]
					if n > m[string(r.Key)] {
						m[string(r.Key)] = n
					}
				}
			}
		})
	}
	return start, nil
}
