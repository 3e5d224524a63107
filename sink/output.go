package sink

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tidemark/tidemark/internal/config"
)

// Output is the job-level output block every sink and committer of a job
// shares (design §1.4: `output:`, today's `sink.*` keys), plus where the
// dead letters go.
type Output struct {
	// TransactionalIDPrefix prefixes every transactional id of the job.
	TransactionalIDPrefix string
	// TransactionTimeout is the producers' transaction.timeout.ms.
	TransactionTimeout time.Duration
	// Delivery is config.ExactlyOnce or config.AtLeastOnce.
	Delivery string
	// OnRejected is config.OnRejectedDeadLetter or config.OnRejectedFail:
	// what happens to a record its topic would refuse.
	OnRejected string
	// DeadLetterTopic receives every rejected record of the job.
	DeadLetterTopic string
	// DeadLetterKey is the setting that names DeadLetterTopic, for
	// messages ("dead_letter.topic").
	DeadLetterKey string
	// Block is the config block of these settings, for messages: "sink"
	// (single-chain configs) or "output" (the default).
	Block string
}

func (o Output) block() string {
	if o.Block == "" {
		return "output"
	}
	return o.Block
}

// LegacyOutput is the output of a single-chain config (its `sink:` block).
func LegacyOutput(cfg *config.Config) Output {
	key := "sink.dead_letter_topic"
	if cfg.Sink.DeadLetterTopic == "" {
		key = "sink.dead_letter_topic (default <sink.topic>-dead-letters)"
	}
	return Output{
		TransactionalIDPrefix: cfg.TxnIDPrefix(),
		TransactionTimeout:    cfg.Sink.TransactionTimeout,
		Delivery:              cfg.Sink.Delivery,
		OnRejected:            cfg.Sink.OnRejected,
		DeadLetterTopic:       cfg.DeadLetterTopic(),
		DeadLetterKey:         key,
		Block:                 "sink",
	}
}

// LegacyStage is the stage of a single-chain config that bears its sink.
// Its transactional ids keep the form <prefix>-<task>-<slot> they had
// before stages existed, so that checkpoints taken before the upgrade
// settle and restore (design §3.6).
const LegacyStage = "keyed"

// idStage is the stage part of stage's transactional ids: "" for the
// legacy form.
func idStage(stage string) string {
	if stage == LegacyStage {
		return ""
	}
	return stage
}

// StageTransactionalID is the transactional id of slot of task task of
// stage stage: <prefix>/<stage>/<task>-<slot>, or <prefix>-<task>-<slot>
// for the legacy stage (LegacyStage, or ""). The prefix cannot contain '/'
// (the config refuses it), so a stage's ids never equal another job's:
// stage "v2" of job "clicks" is tidemark-clicks/v2/0-0, job "clicks-v2"'s
// legacy ids are tidemark-clicks-v2-0-0.
func StageTransactionalID(prefix, stage string, task, slot int) string {
	if s := idStage(stage); s != "" {
		return prefix + "/" + s + "/" + strconv.Itoa(task) + "-" + strconv.Itoa(slot)
	}
	return fmt.Sprintf("%s-%d-%d", prefix, task, slot)
}

// Topic is a topic a sink writes to and the setting that names it, for
// messages ("sinks[out].topic").
type Topic struct {
	Name, Key string
}
