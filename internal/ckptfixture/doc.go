// Package ckptfixture writes, for tests, real checkpoints of a small job
// into a checkpoint store: a checkpoint coordinator over keyed tasks whose
// state lives in Pebble (operators/state), with no Kafka.
package ckptfixture
