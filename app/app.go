// Package app assembles DevMesh's parts into a running process: it opens
// the data directory and the database, builds the stores, the audit log,
// the token service and the HTTP routes, and serves them. cmd/devmesh
// only parses flags and calls into this package.
package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/auth"
	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/datadir"
	"github.com/devmesh/devmesh/ledger"
	"github.com/devmesh/devmesh/relay"
	"github.com/devmesh/devmesh/runner"
	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
)

// Version is the build's version, set by the linker in release builds.
var Version = "dev"

// App is an assembled DevMesh process. Close releases everything.
type App struct {
	Cfg    config.Config
	Log    *slog.Logger
	Dir    *datadir.Dir
	DB     *store.DB
	Server *server.Server
	Blobs  *blob.Store
	Audit  *audit.Log
	Auth   *auth.Service
	Relay  *relay.Relay
	ledger *ledger.Ledger
	// LogSigner signs audit checkpoints; its verifier key is public.
	LogSigner *audit.Signer
	Now       func() time.Time
	// Getenv reads the environment; os.Getenv unless a test pins it.
	Getenv func(string) string

	closers []func() error
}

// Open locks the data directory, opens and migrates the database and
// builds every part. The caller must call Close.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	a := &App{Cfg: cfg, Log: log, Now: time.Now, Getenv: os.Getenv}
	// Everything this process creates (the SQLite file and its WAL, keys,
	// blobs) is private to its user.
	syscall.Umask(0o077)
	dir, err := datadir.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a.Dir = dir
	a.closers = append(a.closers, dir.Close)

	db, err := store.Open(ctx, cfg.DatabaseURLOrDefault(), store.Options{Logger: log})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.DB = db
	a.closers = append(a.closers, db.Close)
	n, err := db.Migrate(ctx)
	if err != nil {
		a.Close()
		return nil, err
	}
	if err := runner.Migrate(ctx, db, log); err != nil {
		a.Close()
		return nil, err
	}
	log.Info("database ready", "dialect", db.Dialect.String(), "migrations_applied", n)

	if err := a.build(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close releases the app's resources in reverse order of acquisition.
func (a *App) Close() error {
	var first error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	a.closers = nil
	return first
}

// Listen opens the configured listener. It refuses plain HTTP on a
// non-loopback address unless InsecureHTTP is set, and warns whenever
// plain HTTP is used.
func (a *App) Listen(ctx context.Context) (net.Listener, *tls.Config, error) {
	host, _, _ := net.SplitHostPort(a.Cfg.Addr)
	var tlsConf *tls.Config
	if a.Cfg.InsecureHTTP {
		a.Log.Warn("serving plain HTTP without TLS: credentials and candidate data cross the network unencrypted; use only for local development",
			"addr", a.Cfg.Addr)
	} else {
		cert, err := a.certificate(host)
		if err != nil {
			return nil, nil, err
		}
		tlsConf = server.TLSConfig(cert)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", a.Cfg.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w", a.Cfg.Addr, err)
	}
	return ln, tlsConf, nil
}

func (a *App) certificate(host string) (tls.Certificate, error) {
	if a.Cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(a.Cfg.TLSCert, a.Cfg.TLSKey)
		if err != nil {
			return cert, fmt.Errorf("load TLS certificate %q: %w", a.Cfg.TLSCert, err)
		}
		return cert, nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host != "" && host != "localhost" && host != "127.0.0.1" {
		hosts = append(hosts, host)
	}
	cert, created, err := server.LoadOrCreateCert(a.Dir.Path("tls.crt"), a.Dir.Path("tls.key"), hosts, a.Now())
	if err != nil {
		return cert, err
	}
	if created {
		a.Log.Info("created self-signed TLS certificate", "file", a.Dir.Path("tls.crt"))
	}
	return cert, nil
}

// Serve serves HTTP on ln until ctx is done.
func (a *App) Serve(ctx context.Context, ln net.Listener, tlsConf *tls.Config) error {
	hs := server.HTTPServer(a.Server.Handler(), tlsConf, a.Log)
	return server.Serve(ctx, hs, ln)
}

// OnClose runs fn when the app closes, before the parts opened earlier
// are released.
func (a *App) OnClose(fn func() error) { a.closers = append(a.closers, fn) }

// StartRunner starts taking run jobs in this process on driver. The
// driver's isolation probes must pass unless the configuration allows an
// insecure sandbox. The runner stops when the app closes.
func (a *App) StartRunner(ctx context.Context, driver sandbox.Driver) error {
	if a.Cfg.InsecureSandbox {
		a.Log.Warn("the sandbox may run candidate code without full isolation (--insecure-sandbox): development only")
	}
	r, err := runner.Start(ctx, runner.Deps{DB: a.DB, Blobs: a.Blobs, Audit: a.Audit,
		Driver: driver, Log: a.Log, Concurrency: a.Cfg.RunnerConcurrency,
		InsecureDriver: a.Cfg.InsecureSandbox})
	if err != nil {
		return fmt.Errorf("start runner: %w", err)
	}
	a.closers = append(a.closers, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return r.Stop(sctx)
	})
	return nil
}
