package source

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/internal/config"
)

// ConsumerOptions returns the franz-go options that make a client consume
// the configured topics (or topic regex) in the job's consumer group,
// reading only committed records, starting partitions without committed
// offsets at source.start_offset. Offsets are never auto-committed: the
// caller commits them once the records they cover are safe.
func ConsumerOptions(cfg *config.Config) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.ConsumerGroup()),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}
	if cfg.Source.TopicRegex != "" {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics("^(?:"+cfg.Source.TopicRegex+")$"))
	} else {
		opts = append(opts, kgo.ConsumeTopics(cfg.Source.Topics...))
	}
	start, err := StartOffset(cfg)
	if err != nil {
		return nil, err
	}
	return append(opts, kgo.ConsumeResetOffset(start)), nil
}

// StartOffset interprets source.start_offset as a franz-go offset.
func StartOffset(cfg *config.Config) (kgo.Offset, error) {
	switch cfg.Source.StartOffset {
	case config.StartEarliest:
		return kgo.NewOffset().AtStart(), nil
	case config.StartLatest:
		return kgo.NewOffset().AtEnd(), nil
	}
	t, err := cfg.StartTime()
	if err != nil {
		return kgo.Offset{}, fmt.Errorf("source.start_offset: %w", err)
	}
	return kgo.NewOffset().AfterMilli(t.UnixMilli()), nil
}
