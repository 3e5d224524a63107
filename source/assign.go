package source

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tidemark/tidemark/internal/config"
)

// PartitionOwner is the source task, of tasks, that reads partition of
// topic:
//
//	(fnv32a(topic) mod tasks + partition) mod tasks
//
// The partitions of one topic go round-robin over the tasks, starting at a
// task that depends only on the topic's name (as Flink's Kafka source
// does), so a topic's partitions are spread evenly and different topics do
// not all start at task 0. The owner depends on nothing but the topic's
// name, the partition number and the number of tasks: adding partitions or
// topics never moves a partition that is already read. Changing the number
// of tasks does move partitions; every task then receives every restored
// position, so each partition still resumes where it stopped.
func PartitionOwner(topic string, partition int32, tasks int) int {
	if tasks <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(topic)) // never fails
	n := uint64(tasks)
	return int((uint64(h.Sum32())%n + uint64(uint32(partition))) % n)
}

// tp is a topic partition.
type tp struct {
	topic     string
	partition int32
}

func compareTP(a, b tp) int {
	if c := cmp.Compare(a.topic, b.topic); c != 0 {
		return c
	}
	return cmp.Compare(a.partition, b.partition)
}

// topics says which topics a source reads: a list or a regex.
type topics struct {
	list []string
	re   *regexp.Regexp // nil: list
}

func newTopics(cfg *config.SourceConfig, key string) (topics, error) {
	if cfg.TopicRegex == "" {
		return topics{list: cfg.Topics}, nil
	}
	re, err := regexp.Compile("^(?:" + cfg.TopicRegex + ")$")
	if err != nil {
		return topics{}, fmt.Errorf("%s.topic_regex: %w", key, err)
	}
	return topics{re: re}, nil
}

func (ts topics) match(topic string) bool {
	if ts.re != nil {
		return ts.re.MatchString(topic)
	}
	return slices.Contains(ts.list, topic)
}

// partitions lists the partitions of the topics, sorted. It asks a broker
// rather than the client's metadata cache, so that partitions created a
// moment ago are seen (and the cache, which ListOffsets uses, is refreshed).
// A topic that cannot be loaded (a listed topic that does not exist, say)
// makes err non-nil, but the partitions of the other topics are still
// returned.
func (ts topics) partitions(ctx context.Context, cl *kgo.Client) ([]tp, error) {
	req := kmsg.NewPtrMetadataRequest()
	if ts.re == nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, t := range ts.list {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
	} // else nil Topics: every topic
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("source: list topics: %w", err)
	}
	var out []tp
	var errs []error
	for _, t := range resp.Topics {
		if t.Topic == nil || !ts.match(*t.Topic) || (ts.re != nil && t.IsInternal) {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			errs = append(errs, fmt.Errorf("source: topic %s: %w", *t.Topic, err))
			continue
		}
		for _, p := range t.Partitions {
			out = append(out, tp{*t.Topic, p.Partition})
		}
	}
	slices.SortFunc(out, compareTP)
	return out, errors.Join(errs...)
}
