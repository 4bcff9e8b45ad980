package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/devmesh/devmesh/app"
	"github.com/devmesh/devmesh/auth"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/telemetry"
)

func cmdKeys(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(env.stdout, "Usage: devmesh keys rotate [--data DIR | --db URL]")
		fmt.Fprintln(env.stdout, "       devmesh keys rotate-blob-kek [--data DIR]")
		fmt.Fprintln(env.stdout, "\nrotate adds a new token signing key; older keys keep verifying until")
		fmt.Fprintln(env.stdout, "every token they signed has expired, then retire. Running replicas")
		fmt.Fprintln(env.stdout, "pick the new key up within their reload interval; none needs a restart.")
		fmt.Fprintln(env.stdout, "\nrotate-blob-kek adds a new local key-encryption key for blob storage and")
		fmt.Fprintln(env.stdout, "rewraps every data key under it without rewriting any blob. Stop devmesh")
		fmt.Fprintln(env.stdout, "up first: it needs the data directory.")
		return nil
	}
	if args[0] == "rotate-blob-kek" {
		return withApp(ctx, env, "keys rotate-blob-kek", "keys rotate-blob-kek [--data DIR]", args[1:], func(a *app.App) error {
			id, n, err := a.RotateBlobKEK(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "blob key-encryption key %s now wraps all %d data keys; no blob was rewritten\n", id, n)
			return nil
		})
	}
	if args[0] != "rotate" {
		return &usageError{msg: fmt.Sprintf("unknown keys command %q", args[0]),
			hint: "the keys commands are: rotate, rotate-blob-kek"}
	}
	cfg, _, err := loadConfig(env, "keys rotate", "keys rotate [--data DIR | --db URL]", args[1:])
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(env.stderr, cfg.LogLevel, cfg.LogFormat)
	master, err := auth.MasterKey(filepath.Join(cfg.DataDir, "keys", "master.key"), env.getenv)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.DatabaseURLOrDefault(), store.Options{Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	if ok, err := db.MigrationsCurrent(ctx); err != nil || !ok {
		return &hintError{err: fmt.Errorf("database is not migrated"), hint: "run 'devmesh migrate' first"}
	}
	kid, err := auth.RotateKeys(ctx, db, master, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "new signing key %s; older keys retire once their tokens expire\n", kid)
	return nil
}
