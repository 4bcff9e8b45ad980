// Package server is DevMesh's HTTP layer: the route table, TLS, the
// middleware every request passes through, and the one error adapter.
//
// Domain packages contribute Routes; each declares the audience and roles
// it accepts and its body limit, and the server checks both before the
// handler runs, so no handler reads a body from an unauthorised caller.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/devmesh/devmesh/internal/errs"
)

// Timeouts of every server. ReadHeaderTimeout bounds slow-header attacks;
// ReadTimeout bounds a whole upload; WriteTimeout is left unset because
// relay and run-output streams last minutes and are bounded by their own
// deadlines; IdleTimeout reclaims idle keep-alive connections.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 2 * time.Minute
	IdleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// Server routes and serves DevMesh's HTTP API.
type Server struct {
	log  *slog.Logger
	auth Authenticator
	mux  *http.ServeMux
	// routes keeps every registered pattern, for the route table docs.
	routes []Route
}

// New returns a server that authenticates callers with auth.
func New(log *slog.Logger, auth Authenticator) *Server {
	return &Server{log: log, auth: auth, mux: http.NewServeMux()}
}

// Handle registers routes. Registering a pattern twice panics, as with
// http.ServeMux.
func (s *Server) Handle(routes ...Route) {
	for _, rt := range routes {
		s.routes = append(s.routes, rt)
		s.mux.Handle(rt.Pattern, s.wrap(rt))
	}
}

// HandleRaw registers a plain handler for pattern with no authentication
// and no JSON error adapter. Use it for static assets only.
func (s *Server) HandleRaw(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Routes returns the registered routes in registration order.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

func (s *Server) wrap(rt Route) http.Handler {
	limit := rt.MaxBody
	if limit == 0 {
		limit = DefaultMaxBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Browser {
			browserHeaders(w.Header())
		}
		// Authentication and role come first: nothing of the body is read
		// for a caller the route does not accept.
		if rt.Audience != Public {
			p, err := s.authorize(r, rt)
			if err != nil {
				WriteError(w, r, s.log, err)
				return
			}
			r = r.WithContext(WithPrincipal(r.Context(), p))
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := rt.Handler(w, r); err != nil {
			WriteError(w, r, s.log, err)
		}
	})
}

func (s *Server) authorize(r *http.Request, rt Route) (Principal, error) {
	if s.auth == nil {
		return Principal{}, errs.E(errs.Unauthenticated, "authentication is not configured")
	}
	p, err := s.auth.Authenticate(r, rt.Audience)
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return p, err
		}
		return p, errs.Wrap(errs.Unauthenticated, err, "missing or invalid credentials")
	}
	if p.Audience != rt.Audience {
		return p, errs.E(errs.Unauthenticated, "this route does not accept %s credentials", p.Audience)
	}
	if rt.Audience == Recruiter && len(rt.Roles) > 0 && !slices.Contains(rt.Roles, p.Role) {
		return p, errs.E(errs.Forbidden, "role %q may not call this route", p.Role)
	}
	return p, nil
}

// Handler returns the complete handler: tracing, access log, security
// headers and the route table.
func (s *Server) Handler() http.Handler {
	var h http.Handler = s.mux
	h = securityHeaders(h)
	h = http.MaxBytesHandler(h, 64<<20) // outer cap; routes set tighter ones
	h = accessLog(s.log, h)
	h = otelhttp.NewHandler(h, "devmesh",
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.Pattern != "" {
				return r.Pattern
			}
			return r.Method
		}))
	return h
}

// TLSConfig is the TLS policy of every DevMesh listener: TLS 1.2 at least,
// and only AEAD cipher suites with forward secrecy for TLS 1.2.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,
		},
	}
}

// HTTPServer returns an *http.Server with DevMesh's timeouts around h.
// tlsConf may be nil only for an explicitly insecure listener.
func HTTPServer(h http.Handler, tlsConf *tls.Config, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve serves hs on ln until ctx is done, then shuts down gracefully. With
// a TLS config on hs it serves TLS.
func Serve(ctx context.Context, hs *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() {
		if hs.TLSConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		return e
	}
	return err
}
