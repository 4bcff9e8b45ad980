package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/devmesh/devmesh/app"
	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/datadir"
	"github.com/devmesh/devmesh/telemetry"
)

func appVersion() string { return app.Version }

func loadConfig(env *cmdEnv, name, usage string, args []string) (config.Config, []string, error) {
	fs := newFlagSet(env, name, usage)
	l := config.Flags(fs)
	if err := parse(fs, args); err != nil {
		return config.Config{}, nil, err
	}
	cfg, err := l.Load(env.getenv)
	if err != nil {
		return cfg, nil, &hintError{err: err, hint: "fix the settings named above; 'devmesh " + name + " --help' lists the flags"}
	}
	return cfg, fs.Args(), nil
}

func openApp(ctx context.Context, env *cmdEnv, cfg config.Config) (*app.App, func(), error) {
	log := telemetry.NewLogger(env.stderr, cfg.LogLevel, cfg.LogFormat)
	shutdown, err := telemetry.Setup(ctx, "devmesh", app.Version, log)
	if err != nil {
		return nil, nil, err
	}
	a, err := app.Open(ctx, cfg, log)
	if errors.Is(err, datadir.ErrLocked) {
		shutdown(context.Background())
		return nil, nil, &hintError{err: err,
			hint: fmt.Sprintf("is another devmesh running with --data %s?", cfg.DataDir)}
	}
	if err != nil {
		shutdown(context.Background())
		return nil, nil, err
	}
	return a, func() { a.Close(); shutdown(context.Background()) }, nil
}

func cmdUp(ctx context.Context, env *cmdEnv, args []string) error {
	return withApp(ctx, env, "up", "up [--data DIR] [--addr HOST:PORT] [flags]", args, func(a *app.App) error {
		return up(ctx, env, a)
	})
}

func up(ctx context.Context, env *cmdEnv, a *app.App) error {
	seed, err := a.Seed(ctx)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := startRunner(ctx, a); err != nil {
		// Serving still works; runs wait in the queue until a runner
		// can take them.
		a.Log.Error("no sandbox runner in this process: runs will wait in the queue", "err", err)
		fmt.Fprintf(env.stderr, "warning: %v\nhint: the local sandbox needs bubblewrap (scripts/up.sh installs it) and root for per-run users and cgroups\n", err)
	}
	ln, tlsConf, err := a.Listen(ctx)
	if err != nil {
		return &hintError{err: err, hint: "pick another address with --addr HOST:PORT"}
	}
	printWelcome(env, a, seed)
	a.Log.Info("listening", "url", a.Cfg.URL())
	return a.Serve(ctx, ln, tlsConf)
}

func printWelcome(env *cmdEnv, a *app.App, seed app.SeedResult) {
	w := env.stdout
	fmt.Fprintf(w, "\nDevMesh is running at %s\n", a.Cfg.URL())
	if !a.Cfg.InsecureHTTP && a.Cfg.TLSCert == "" {
		fmt.Fprintf(w, "  TLS: self-signed certificate %s (use curl -k or trust it)\n", a.Dir.Path("tls.crt"))
	}
	fmt.Fprintf(w, "  data: %s\n", a.Dir.Root)
	if seed.Password != "" {
		fmt.Fprintf(w, "\nSign in as %s with password:\n\n    %s\n\n", seed.OwnerEmail, seed.Password)
		fmt.Fprintln(w, "This password is shown only once; store it now.")
	} else if seed.OwnerEmail != "" {
		fmt.Fprintf(w, "\nSign in as %s with the password printed on first start.\n", seed.OwnerEmail)
	}
	fmt.Fprintf(w, "  curl -k %s/api/v1/login -H 'Content-Type: application/json' -d '{\"email\":\"%s\",\"password\":\"...\"}'\n\n", a.Cfg.URL(), seed.OwnerEmail)
}

// startRunner runs a runner in this process on the configured
// sandbox driver (bubblewrap by default). Only cmd/devmesh links drivers;
// the app knows only the sandbox.Driver interface.
func startRunner(ctx context.Context, a *app.App) error {
	d, release, err := newDriver(a.Cfg, a.Log)
	if err != nil {
		return err
	}
	if err := a.StartRunner(ctx, d); err != nil {
		release()
		return err
	}
	a.OnClose(func() error { release(); return nil })
	return nil
}

// withApp loads the configuration of command name, opens the app and
// runs fn with it, closing the app afterwards.
func withApp(ctx context.Context, env *cmdEnv, name, usage string, args []string, fn func(*app.App) error) error {
	cfg, _, err := loadConfig(env, name, usage, args)
	if err != nil {
		return err
	}
	a, closeApp, err := openApp(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer closeApp()
	return fn(a)
}

func cmdRunner(ctx context.Context, env *cmdEnv, args []string) error {
	return withApp(ctx, env, "runner", "runner [flags]", args, func(a *app.App) error {
		if err := startRunner(ctx, a); err != nil {
			return &hintError{err: err, hint: "run 'devmesh sandbox check' to see which isolation probe fails"}
		}
		a.Log.Info("runner started", "concurrency", a.Cfg.RunnerConcurrency)
		<-ctx.Done()
		return nil
	})
}

func cmdServe(ctx context.Context, env *cmdEnv, args []string) error {
	return withApp(ctx, env, "serve", "serve [flags]", args, func(a *app.App) error {
		ln, tlsConf, err := a.Listen(ctx)
		if err != nil {
			return err
		}
		a.Log.Info("listening", "url", a.Cfg.URL())
		return a.Serve(ctx, ln, tlsConf)
	})
}

func cmdMigrate(ctx context.Context, env *cmdEnv, args []string) error {
	return withApp(ctx, env, "migrate", "migrate [--data DIR | --db URL]", args, func(a *app.App) error {
		fmt.Fprintf(env.stdout, "database %s is migrated and current\n", a.DB.Dialect)
		return nil
	})
}
