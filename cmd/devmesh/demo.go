package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/devmesh/devmesh/app"
	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/demo"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/telemetry"
)

func cmdDemo(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "demo", "demo [--url URL --email EMAIL [--ca FILE]] [--skip-ai]\n\n"+
		"Without --url, demo starts a private embedded DevMesh in a temporary directory\n"+
		"and drives it. With --url, the recruiter's password is read from\n"+
		"DEVMESH_DEMO_PASSWORD or standard input.")
	target := fs.String("url", "", "base `URL` of a running DevMesh (default: start a private one)")
	email := fs.String("email", app.DemoOwnerEmail, "recruiter `email` to sign in as")
	caFile := fs.String("ca", "", "PEM `file` of the CA or self-signed certificate to trust for --url")
	skipAI := fs.Bool("skip-ai", false, "leave out the AI relay step")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg := demo.Config{URL: *target, Email: *email, Out: env.stdout, SkipAI: *skipAI}
	if *target == "" {
		stop, err := startPrivate(ctx, env, &cfg)
		if err != nil {
			return err
		}
		defer stop()
	} else {
		pw := env.getenv("DEVMESH_DEMO_PASSWORD")
		if pw == "" {
			p, err := readPassword(env)
			if err != nil {
				return err
			}
			pw = p.Reveal()
		}
		cfg.Password = secret.New(pw)
		client, err := clientTrusting(*caFile)
		if err != nil {
			return err
		}
		cfg.Client = client
	}
	fmt.Fprintf(env.stdout, "Driving one assessment through %s\n\n", cfg.URL)
	res, err := demo.Run(ctx, cfg)
	if err != nil {
		return &quietError{err: err}
	}
	fmt.Fprintf(env.stdout, "\nevery step checked: submission %s, workspace %s, %d receipts verified offline\n",
		res.SubmissionID, res.Digest, res.Receipts)
	return nil
}

// clientTrusting returns an HTTPS client that trusts caFile in addition to
// the system roots.
func clientTrusting(caFile string) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{Timeout: time.Minute}, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read --ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read --ca %q: no PEM certificate in it", caFile)
	}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

// startPrivate runs a private embedded DevMesh on a free loopback port in
// a temporary directory, with a runner on the local sandbox, and points
// cfg at it.
func startPrivate(ctx context.Context, env *cmdEnv, cfg *demo.Config) (func(), error) {
	dir, err := os.MkdirTemp("", "devmesh-demo-")
	if err != nil {
		return nil, err
	}
	c := config.DefaultConfig()
	c.DataDir, c.Addr = dir, "127.0.0.1:0"
	log := telemetry.NewLogger(io.Discard, "error", "text")
	a, err := app.Open(ctx, c, log)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cleanup := func() { a.Close(); os.RemoveAll(dir) }
	seed, err := a.Seed(ctx)
	if err != nil {
		cleanup()
		return nil, err
	}
	if err := startRunner(ctx, a); err != nil {
		cleanup()
		return nil, &hintError{err: err, hint: "the demo runs tests in the local sandbox: it needs bubblewrap and root; 'devmesh sandbox check' says what fails"}
	}
	ln, tlsConf, err := a.Listen(ctx)
	if err != nil {
		cleanup()
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { a.Serve(sctx, ln, tlsConf); close(done) }()
	client, err := clientTrusting(a.Dir.Path("tls.crt"))
	if err != nil {
		stop()
		cleanup()
		return nil, err
	}
	cfg.URL = "https://" + ln.Addr().String()
	cfg.Password = secret.New(seed.Password)
	cfg.Client = client
	return func() { stop(); <-done; cleanup() }, nil
}
