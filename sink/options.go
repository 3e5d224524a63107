package sink

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/internal/config"
)

// TransactionalID is the transactional id of sink task index task. Ids are
// derived from the configured prefix so that a restarted instance reuses,
// and so fences, the ids of the one before.
func TransactionalID(cfg *config.Config, task int) string {
	return fmt.Sprintf("%s-%d", cfg.TxnIDPrefix(), task)
}

// ProducerOptions returns the franz-go options of the sink's producer for
// task index task: transactional under exactly_once, idempotent (franz-go's
// default) under at_least_once. Records go to sink.topic by default.
func ProducerOptions(cfg *config.Config, task int) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(cfg.Sink.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
	}
	if cfg.Sink.Delivery == config.ExactlyOnce {
		opts = append(opts,
			kgo.TransactionalID(TransactionalID(cfg, task)),
			kgo.TransactionTimeout(cfg.Sink.TransactionTimeout),
		)
	}
	return opts
}
