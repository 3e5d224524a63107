package sampledata

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is one line of a sample file.
type Record struct {
	Key   []byte // nil: no key
	Value []byte
}

// ErrNoFile: a source topic has no sample file.
var ErrNoFile = errors.New("sampledata: no sample file")

// Path is the sample file of topic in dir.
func Path(dir, topic string) string { return filepath.Join(dir, topic+".txt") }

// Read parses the sample file at path. Empty lines are skipped.
func Read(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist (one KEY<TAB>VALUE line per record)", ErrNoFile, path)
	}
	if err != nil {
		return nil, fmt.Errorf("sampledata: %w", err)
	}
	var recs []Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(line) == 0 {
			continue
		}
		r := Record{Value: line}
		if k, v, ok := bytes.Cut(line, []byte("\t")); ok {
			r = Record{Key: k, Value: v}
		}
		r.Value = bytes.Clone(r.Value)
		if r.Key != nil {
			r.Key = bytes.Clone(r.Key)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sampledata: read %s: %w", path, err)
	}
	return recs, nil
}

// Produce writes recs to topic, in order, and waits until every one is
// acknowledged. The client's partitioner chooses each record's partition
// (kgo's default hashes the key as Kafka's does).
func Produce(ctx context.Context, client *kgo.Client, topic string, recs []Record) error {
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}
	}
	if err := client.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		return fmt.Errorf("sampledata: write %d records to %s: %w", len(recs), topic, err)
	}
	return nil
}

// Held returns how many records each topic holds (the sum of its
// partitions' end offsets; 0 for an empty topic).
func Held(ctx context.Context, client *kgo.Client, topics ...string) (map[string]int64, error) {
	ends, err := kadm.NewClient(client).ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("sampledata: list end offsets of %v: %w", topics, err)
	}
	held := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) { held[o.Topic] += o.Offset })
	return held, nil
}

// Load writes the sample file of each topic (Path(dir, topic)) into it,
// unless the topic already holds records and force is false: a second
// load would double the sample. It returns, per topic, the records
// written (0 for a topic skipped), and checks every file exists before it
// writes anything.
func Load(ctx context.Context, client *kgo.Client, dir string, topics []string, force bool) (map[string]int, error) {
	files := map[string][]Record{}
	for _, t := range topics {
		recs, err := Read(Path(dir, t))
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", t, err)
		}
		files[t] = recs
	}
	held, err := Held(ctx, client, topics...)
	if err != nil {
		return nil, err
	}
	written := map[string]int{}
	for _, t := range topics {
		if held[t] > 0 && !force {
			written[t] = 0
			continue
		}
		if err := Produce(ctx, client, t, files[t]); err != nil {
			return written, err
		}
		written[t] = len(files[t])
	}
	return written, nil
}
