package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tidemark/tidemark/checkpoint"
	"github.com/tidemark/tidemark/internal/dashboard"
	"github.com/tidemark/tidemark/internal/job"
)

// Checkpoints is what the checkpoint endpoints need of the running job.
type Checkpoints interface {
	// Stats returns the newest checkpoints' statistics, oldest first.
	Stats() []checkpoint.Stats
	// Counts returns how many checkpoints completed and failed.
	Counts() (completed, failed int64)
	// Savepoint takes a savepoint and returns its directory.
	Savepoint(ctx context.Context, name string) (string, error)
}

// Job is what /readyz and GET /api/v1/job need of the job.
type Job interface {
	// Status says what the job is doing and whether it is ready.
	Status() job.Status
}

// Server serves the operational endpoints on one listener.
type Server struct {
	ready   atomic.Bool
	ckpts   atomic.Pointer[Checkpoints]
	stopper atomic.Pointer[Stopper]
	job     atomic.Pointer[Job]
	sources atomic.Pointer[Sources]
	ends    atomic.Pointer[EndOffsets]
	metrics atomic.Pointer[prometheus.Gatherer] // metrics.go
	srv     *http.Server
	ln      net.Listener
	opts    options // options.go

	// Savepoint rate limit (options.go): whether one is being taken, and
	// when the last one started.
	spMu      sync.Mutex
	spBusy    bool
	spStarted time.Time
}

// SetJob connects /readyz and GET /api/v1/job to the job: from then on
// /readyz answers what the job's status says, whatever SetReady said.
func (s *Server) SetJob(j Job) { s.job.Store(&j) }

// SetCheckpoints connects the checkpoint endpoints to the running job.
func (s *Server) SetCheckpoints(c Checkpoints) { s.ckpts.Store(&c) }

// Stopper stops the job with a savepoint and returns its directory.
type Stopper func(ctx context.Context, name string) (string, error)

// SetStopper enables POST /api/v1/savepoints with "stop": true.
func (s *Server) SetStopper(f Stopper) { s.stopper.Store(&f) }

func (s *Server) checkpoints(w http.ResponseWriter) Checkpoints {
	p := s.ckpts.Load()
	if p == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the job has not restored yet"})
		return nil
	}
	return *p
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// CheckpointsResponse is the body of GET /api/v1/checkpoints.
type CheckpointsResponse struct {
	Counts struct {
		Completed int64 `json:"completed"`
		Failed    int64 `json:"failed"`
	} `json:"counts"`
	// Latest is the newest completed checkpoint, if any.
	Latest *checkpoint.Stats `json:"latest_completed,omitempty"`
	// History holds the newest checkpoints, newest first.
	History []checkpoint.Stats `json:"history"`
}

// SavepointRequest is the body of POST /api/v1/savepoints.
type SavepointRequest struct {
	Name string `json:"name"`
	// Stop stops the job with the savepoint: its final checkpoint is the
	// savepoint, the process exits once it is written and committed, and
	// restoring it repeats and loses nothing.
	Stop bool `json:"stop,omitempty"`
}

// SavepointResponse answers POST /api/v1/savepoints.
type SavepointResponse struct {
	Savepoint string `json:"savepoint,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Listen binds addr (host:port; port 0 picks a free one). Serve must follow.
func Listen(addr string, opts ...Option) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", addr, err)
	}
	s := &Server{ln: ln, opts: defaultOptions()}
	for _, o := range opts {
		o(&s.opts)
	}
	mux := http.NewServeMux()
	dash := dashboard.Handler()
	mux.Handle("GET /{$}", dash)
	mux.Handle("GET /assets/", dash)
	mux.HandleFunc("GET /api/v1/sources", s.serveSources)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ready, reason := s.ready.Load(), "not ready"
		if j := s.job.Load(); j != nil {
			st := (*j).Status()
			ready, reason = st.Ready, "not ready: "+st.Reason
		}
		if !ready {
			http.Error(w, reason, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /metrics", s.serveMetrics) // metrics.go
	mux.HandleFunc("GET /api/v1/job", func(w http.ResponseWriter, _ *http.Request) {
		j := s.job.Load()
		if j == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the job has not started yet"})
			return
		}
		writeJSON(w, http.StatusOK, (*j).Status())
	})
	mux.HandleFunc("GET /api/v1/checkpoints", func(w http.ResponseWriter, _ *http.Request) {
		c := s.checkpoints(w)
		if c == nil {
			return
		}
		var resp CheckpointsResponse
		resp.Counts.Completed, resp.Counts.Failed = c.Counts()
		stats := c.Stats()
		resp.History = make([]checkpoint.Stats, 0, len(stats))
		for i := len(stats) - 1; i >= 0; i-- {
			resp.History = append(resp.History, stats[i])
			if resp.Latest == nil && stats[i].Status == checkpoint.StatusCompleted {
				resp.Latest = &stats[i]
			}
		}
		writeJSON(w, http.StatusOK, resp)
	})
	mux.HandleFunc("POST /api/v1/savepoints", func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(w, r) {
			return
		}
		c := s.checkpoints(w)
		if c == nil {
			return
		}
		var req SavepointRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, SavepointResponse{Error: "body must be JSON {\"name\": \"...\"}: " + err.Error()})
			return
		}
		if req.Name == "" {
			req.Name = "savepoint-" + s.opts.now().UTC().Format("20060102-150405")
		}
		if !req.Stop {
			release, ok := s.startSavepoint(w)
			if !ok {
				return
			}
			defer release()
		}
		var dir string
		var err error
		if req.Stop {
			p := s.stopper.Load()
			if p == nil {
				writeJSON(w, http.StatusServiceUnavailable, SavepointResponse{Error: "this processor cannot stop with a savepoint"})
				return
			}
			dir, err = (*p)(r.Context(), req.Name)
		} else {
			dir, err = c.Savepoint(r.Context(), req.Name)
		}
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, SavepointResponse{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, SavepointResponse{Savepoint: dir})
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// SetReady sets what /readyz answers.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Serve serves until ctx is done, then shuts down gracefully (bounded by
// five seconds). It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, log *zap.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	log.Info("http server listening", zap.String("address", s.Addr()))
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
