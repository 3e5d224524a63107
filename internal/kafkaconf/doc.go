// Package kafkaconf turns the kafka section of the configuration into
// franz-go client options: seed brokers, client id, TLS, SASL and logging.
package kafkaconf
