package sink

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/operators"
)

// Headers a dead letter carries besides the original record's.
const (
	HeaderError     = "tidemark.error"
	HeaderOperator  = "tidemark.operator"
	HeaderTopic     = "tidemark.source.topic"
	HeaderPartition = "tidemark.source.partition"
	HeaderOffset    = "tidemark.source.offset"
)

// DeadLetterRecord is the record written to the dead-letter topic for d.
func DeadLetterRecord(topic string, d operators.DeadLetter) *kgo.Record {
	r := d.Record
	kr := toKafka(topic, r)
	kr.Headers = append(kr.Headers,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(d.Reason)},
		kgo.RecordHeader{Key: HeaderOperator, Value: []byte(d.Operator)},
		kgo.RecordHeader{Key: HeaderTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: HeaderOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
	)
	return kr
}
