package httpapi

import (
	"crypto/subtle"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Option configures a Server (see Listen).
type Option func(*options)

type options struct {
	token      string
	spInterval time.Duration
	now        func() time.Time
}

func defaultOptions() options { return options{now: time.Now} }

// WithToken makes the mutating endpoints (POST /api/v1/savepoints)
// require the header "Authorization: Bearer <token>", whatever address the
// server listens on. Without it (the default, or token ""), they answer
// only while the server listens on loopback; beyond loopback they refuse
// every request with 403, saying to set http.token.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithSavepointInterval rate-limits savepoints: one at a time, and a new
// one no sooner than d after the previous one started; a request that
// comes too soon is refused with 429 and a Retry-After header. A stop with
// a savepoint is never refused. Default 0: one at a time, no interval.
func WithSavepointInterval(d time.Duration) Option { return func(o *options) { o.spInterval = d } }

// WithClock sets the clock of the savepoint rate limit and of default
// savepoint names. Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Loopback reports whether the listen address addr (host:port) accepts
// connections from this host only: host "localhost" or a loopback IP. An
// empty host, 0.0.0.0, ::, any other address or host name listens beyond
// loopback.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrorResponse is the body of a refused request.
type ErrorResponse struct {
	Error string `json:"error"`
}

// authorized checks a mutating request's bearer token; it answers the
// request itself when it refuses it.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	token := s.opts.token
	if token == "" {
		if Loopback(s.Addr()) {
			return true
		}
		writeJSON(w, http.StatusForbidden, ErrorResponse{Error: fmt.Sprintf(
			"this processor listens on %s, beyond loopback, and has no token: mutating endpoints are disabled. "+
				"Set http.token (or the environment variable TIDEMARK_HTTP_TOKEN) and send \"Authorization: Bearer <token>\"", s.Addr())})
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tidemark"`)
		writeJSON(w, http.StatusUnauthorized, ErrorResponse{Error: "missing or wrong bearer token: send \"Authorization: Bearer <http.token>\""})
		return false
	}
	return true
}

// startSavepoint applies the savepoint rate limit: it answers 429 and
// returns false, or marks a savepoint as being taken and returns the
// function that ends it.
func (s *Server) startSavepoint(w http.ResponseWriter) (func(), bool) {
	s.spMu.Lock()
	defer s.spMu.Unlock()
	now := s.opts.now()
	if s.spBusy {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, SavepointResponse{Error: "a savepoint is being taken: try again once it is written"})
		return nil, false
	}
	if !s.spStarted.IsZero() {
		if wait := s.spStarted.Add(s.opts.spInterval).Sub(now); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeJSON(w, http.StatusTooManyRequests, SavepointResponse{Error: fmt.Sprintf(
				"savepoints are limited to one per %s (savepoints.min_interval): try again in %s", s.opts.spInterval, wait.Round(time.Millisecond))})
			return nil, false
		}
	}
	s.spBusy, s.spStarted = true, now
	return func() {
		s.spMu.Lock()
		s.spBusy = false
		s.spMu.Unlock()
	}, true
}
