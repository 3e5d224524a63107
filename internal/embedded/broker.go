package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Options configure a broker.
type Options struct {
	// DataDir persists the broker's topics, offsets and transactions
	// across restarts; "" keeps them in memory only.
	DataDir string
	// Listen is the host:port the broker listens on; "" means a free
	// port on 127.0.0.1.
	Listen string
	// Log receives the broker's warnings and what it repairs; none if nil.
	Log *zap.Logger
}

// Running is a started broker, in this process (Broker) or in a child
// process (Process).
type Running interface {
	// Addrs are the broker's listen addresses, host:port.
	Addrs() []string
	// Done is closed when the broker stopped without being asked to.
	Done() <-chan struct{}
	// Close stops the broker; with a data dir its state is saved whole.
	Close() error
}

// Broker is an in-process, single-node Kafka-protocol broker (kfake).
type Broker struct {
	cluster *kfake.Cluster
	lock    *Lock
	log     *zap.Logger
	done    chan struct{}
}

var _ Running = (*Broker)(nil)

// Start starts a broker in this process. With a data dir it takes the
// dir's lock (ErrLocked if another broker holds it), and if the previous
// broker on the dir did not stop cleanly it repairs what kfake's crash
// recovery leaves wrong (see Repair) before it returns.
//
// A broker in this process dies with it: a SIGKILL leaves its data to
// crash recovery. Spawn runs it in a child process that stops cleanly
// when its parent dies.
func Start(ctx context.Context, o Options) (*Broker, error) {
	if o.DataDir == "" {
		return start(ctx, o, nil)
	}
	lock, err := TryLock(o.DataDir)
	if errors.Is(err, ErrLocked) {
		info, _ := ReadInfo(o.DataDir)
		return nil, fmt.Errorf("%w: %s is held by pid %d (a running processor, or `processor tail` reading it)", err, LockPath(o.DataDir), info.PID)
	}
	if err != nil {
		return nil, err
	}
	b, err := start(ctx, o, lock)
	if err != nil {
		_ = lock.Unlock()
		return nil, err
	}
	return b, nil
}

// start starts the broker on a locked data dir (lock nil without one).
func start(ctx context.Context, o Options, lock *Lock) (*Broker, error) {
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	unclean := false
	if lock != nil {
		prev, known := lock.Previous()
		_, statErr := os.Stat(o.DataDir)
		// Unknown history (a first start, or data from before lock
		// files) with data present is checked too: the check is cheap
		// next to a wrong answer, and idempotent.
		unclean = (known && prev.State != StateStopped) || (!known && statErr == nil)
		if err := lock.Set(Info{PID: os.Getpid(), State: StateStarting}); err != nil {
			return nil, err
		}
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.WithLogger(kfakeLogger{log})}
	if o.Listen != "" {
		listen := o.Listen
		opts = append(opts, kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, listen)
			if err != nil {
				return nil, fmt.Errorf("listen on %s: %w (is another program using it? set kafka.embedded_listen to another host:port, or port 0 for a free one)", listen, err)
			}
			return ln, nil
		}))
	}
	if o.DataDir != "" {
		// The broker's data is private to the processor's user; kfake
		// creates what is inside with its own modes (Serve's process
		// narrows those with its umask).
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("embedded broker: data directory: %w", err)
		}
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	b := &Broker{cluster: c, lock: lock, log: log, done: make(chan struct{})}
	if unclean {
		log.Warn("the embedded broker's previous run did not stop cleanly: checking its transactions", zap.String("data_dir", o.DataDir))
		if err := Repair(ctx, b.Addrs(), log); err != nil {
			c.Close()
			return nil, err
		}
	}
	if lock != nil {
		if err := lock.Set(Info{PID: os.Getpid(), Address: b.Addrs()[0], State: StateRunning}); err != nil {
			c.Close()
			return nil, err
		}
	}
	return b, nil
}

// Addrs implements Running.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Done implements Running: an in-process broker never stops on its own.
func (b *Broker) Done() <-chan struct{} { return b.done }

// Close implements Running: it stops the broker, saves its state whole and
// releases the data dir.
func (b *Broker) Close() error {
	b.cluster.Close()
	if b.lock == nil {
		return nil
	}
	err := b.lock.Set(Info{PID: os.Getpid(), State: StateStopped})
	return errors.Join(err, b.lock.Unlock())
}

// kfakeLogger passes kfake's errors, and its warnings about its data on
// disk, to zap; its other warnings (slow requests, late heartbeats) are
// debug noise here.
type kfakeLogger struct{ log *zap.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	switch {
	case level == kfake.LogLevelError:
		l.log.Error(msg)
	case level == kfake.LogLevelWarn && aboutData(msg):
		l.log.Warn(msg)
	case level <= kfake.LogLevelWarn:
		l.log.Debug(msg)
	}
}

func aboutData(msg string) bool {
	for _, w := range []string{"persist", "segment", "corrupt", "truncat", ".log", ".json", "snapshot", "load"} {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}

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

// EnsureTopicsAt is EnsureTopics with a client of its own to addrs.
func EnsureTopicsAt(ctx context.Context, addrs []string, partitions int32, topics ...string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return fmt.Errorf("embedded: client: %w", err)
	}
	defer cl.Close()
	return EnsureTopics(ctx, cl, partitions, topics...)
}
