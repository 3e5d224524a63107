package sink

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tidemark/tidemark/operators"
)

// toKafka is the Kafka record for r, to topic ("" for the client's default
// topic), keeping its key, value, headers and event time.
func toKafka(topic string, r operators.Record) *kgo.Record {
	kr := &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}
	if r.Timestamp > 0 {
		kr.Timestamp = time.UnixMilli(r.Timestamp)
	}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return kr
}

// sinkToKafkaInto makes kr the Kafka record for sr and returns it.
func sinkToKafkaInto(kr *kgo.Record, sr *operators.SinkRecord) *kgo.Record {
	*kr = kgo.Record{Topic: sr.Topic, Key: sr.Key, Value: sr.Value}
	if sr.Timestamp > 0 {
		kr.Timestamp = time.UnixMilli(sr.Timestamp)
	}
	if len(sr.Headers) > 0 {
		kr.Headers = make([]kgo.RecordHeader, len(sr.Headers))
		for i, h := range sr.Headers {
			kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
	return kr
}
