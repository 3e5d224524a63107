// Package embedded runs the quickstart's in-process Kafka-protocol broker
// (franz-go's kfake) on loopback and fills its input topics with generated
// sample events. It is for trying Tidemark out, not for production.
package embedded
