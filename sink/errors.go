package sink

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidemark/tidemark/operators"
)

// ErrConfig marks a setting the brokers refuse (a transaction timeout above
// theirs, say): restarting cannot cure it, changing the setting can.
var ErrConfig = errors.New("sink: setting refused by the brokers")

// MissingTopicError: topics the sink writes to do not exist. The producer
// never creates topics, so nothing could be written; the job does not start.
type MissingTopicError struct {
	// Topics are the missing topics; Keys the settings that name them
	// ("sink.topic", "sink.dead_letter_topic").
	Topics, Keys []string
}

func (e *MissingTopicError) Error() string {
	var names []string
	for i, t := range e.Topics {
		names = append(names, fmt.Sprintf("%q (%s)", t, e.Keys[i]))
	}
	return fmt.Sprintf("sink: topic %s does not exist: create it before starting the job "+
		"(e.g. kafka-topics.sh --bootstrap-server BROKER --create --topic %s --partitions N --replication-factor R), "+
		"or correct the setting; Tidemark never creates topics", strings.Join(names, " and "), e.Topics[0])
}

// Source says where a record came from, for messages: "topic[partition]
// offset n", or that an operator made it without one.
func Source(r operators.Record) string {
	if r.Topic == "" {
		return "a record an operator made (no source position)"
	}
	return r.Topic + "[" + strconv.Itoa(int(r.Partition)) + "] offset " + strconv.FormatInt(r.Offset, 10)
}

// RejectedError: a record Kafka refuses, or would refuse, to store, and
// sink.on_rejected (or a dead-letter topic that cannot take it either) says
// to stop. It names the record's source position. Restarting cannot cure
// it: the same record would come again.
type RejectedError struct {
	// Topic is where the record was to be written.
	Topic string
	// Record is the record (its Topic, Partition and Offset say where it
	// was read).
	Record operators.Record
	// Size and Limit are the record's size and the most the topic takes,
	// when the sink measured it; 0 otherwise.
	Size, Limit int
	// DeadLetter says the record was on its way to the dead-letter topic
	// and did not fit even truncated.
	DeadLetter bool
	// Err is the broker's answer, if it was sent.
	Err error
	// Reason says why the record cannot be written when it was not sent
	// and its size is not the reason (its topic does not exist, say).
	Reason string
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sink: the record from %s cannot be written to topic %s", Source(e.Record), e.Topic)
	switch {
	case e.Reason != "":
		fmt.Fprintf(&b, ": %s; on_rejected is fail: correct the record's topic (or create it), or set on_rejected: dead_letter to send such records to the dead-letter topic", e.Reason)
		return b.String()
	case e.Err != nil:
		fmt.Fprintf(&b, ": the broker rejected it (or the batch that held it): %v", e.Err)
	default:
		fmt.Fprintf(&b, ": it takes %d bytes, the topic accepts batches of at most %d (its max.message.bytes, less batch overhead)", e.Size, e.Limit)
	}
	switch {
	case e.DeadLetter:
		b.WriteString("; not even truncated can it go to the dead-letter topic: raise the dead-letter topic's max.message.bytes")
	case e.Err == nil:
		b.WriteString("; sink.on_rejected is fail: raise the topic's max.message.bytes, or set sink.on_rejected: dead_letter to send such records to the dead-letter topic (truncated)")
	default:
		b.WriteString("; fix the topic's settings for it (or the record at its source) and start the job again")
	}
	return b.String()
}

func (e *RejectedError) Unwrap() error { return e.Err }
