package cli

import (
	"context"

	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/kafkaconf"
)

// checkKafka probes the seed brokers once with the configured TLS and SASL
// settings (kafkaconf.Probe), so that a mismatch ends the start within
// kafkaconf.ProbeTimeout with a message naming the setting, instead of
// clients retrying for minutes. The embedded broker runs in this process
// without TLS or SASL: nothing to check.
func checkKafka(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	if cfg.Kafka.Embedded {
		return nil
	}
	if err := kafkaconf.Probe(ctx, cfg.Kafka, nil, kafkaconf.ProbeTimeout, log.Named("kafka")); err != nil {
		log.Error("the Kafka connection settings do not match the broker", zap.Error(err))
		return err
	}
	return nil
}
