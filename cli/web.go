package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/httpapi"
	"github.com/tidemark/tidemark/internal/kafkaconf"
)

// listenHTTP starts the HTTP server of cfg: bearer token (http.token or
// TIDEMARK_HTTP_TOKEN) and savepoint rate limit (savepoints.min_interval).
func listenHTTP(cfg *config.Config, log *zap.Logger) (*httpapi.Server, error) {
	token, err := cfg.HTTP.BearerToken(os.Getenv)
	if err != nil {
		return nil, err
	}
	srv, err := httpapi.Listen(cfg.HTTP.Listen, httpapi.WithToken(token), httpapi.WithSavepointInterval(cfg.Savepoints.MinInterval))
	if err != nil {
		return nil, err
	}
	switch {
	case token != "":
		log.Info("http: savepoint endpoints require the bearer token", zap.String("address", srv.Addr()))
	case !httpapi.Loopback(srv.Addr()):
		log.Warn("http: listening beyond loopback without a token: savepoint endpoints are disabled (set http.token or "+config.TokenEnv+")",
			zap.String("address", srv.Addr()))
	}
	return srv, nil
}

// endOffsets looks up partitions' end offsets for GET /api/v1/sources,
// with one Kafka client made on first use and closed by Close.
type endOffsets struct {
	cfg *config.Config
	log *zap.Logger

	mu  sync.Mutex
	cl  *kgo.Client
	err error
}

// lookup returns the lookup function for brokers (the job's: the embedded
// broker's address in quickstart mode).
func (e *endOffsets) lookup(brokers []string) httpapi.EndOffsets {
	return func(ctx context.Context, topics []string) (map[string]map[int32]int64, error) {
		adm, err := e.admin(brokers)
		if err != nil {
			return nil, err
		}
		listed, err := adm.ListEndOffsets(ctx, topics...)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("list end offsets of %v: %w", topics, err)
		}
		out := map[string]map[int32]int64{}
		listed.Each(func(o kadm.ListedOffset) {
			if out[o.Topic] == nil {
				out[o.Topic] = map[int32]int64{}
			}
			out[o.Topic][o.Partition] = o.Offset
		})
		return out, nil
	}
}

func (e *endOffsets) admin(brokers []string) (*kadm.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cl == nil && e.err == nil {
		var opts []kgo.Opt
		if opts, e.err = kafkaconf.Options(e.cfg.Kafka, brokers, e.log); e.err == nil {
			e.cl, e.err = kgo.NewClient(opts...)
		}
	}
	if e.err != nil {
		return nil, fmt.Errorf("kafka client for end offsets: %w", e.err)
	}
	return kadm.NewClient(e.cl), nil
}

// Close closes the client, if one was made.
func (e *endOffsets) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cl != nil {
		e.cl.Close()
		e.cl = nil
	}
	e.err = errors.New("the job stopped")
}
