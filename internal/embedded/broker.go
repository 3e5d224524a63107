package embedded

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker is an in-process, single-node Kafka-protocol broker listening on a
// free loopback port.
type Broker struct {
	cluster *kfake.Cluster
}

// Start starts a broker. With a non-empty dataDir its topics, offsets and
// transactions persist there across restarts.
func Start(dataDir string) (*Broker, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{cluster: c}, nil
}

// Addrs are the broker's listen addresses, host:port.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Close stops the broker and, with a data dir, persists its state.
func (b *Broker) Close() { b.cluster.Close() }

// EnsureTopics creates each topic with the given partition count unless it
// exists already.
func EnsureTopics(ctx context.Context, client *kgo.Client, partitions int32, topics ...string) error {
	adm := kadm.NewClient(client)
	resps, err := adm.CreateTopics(ctx, partitions, 1, nil, topics...)
	if err != nil {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}
