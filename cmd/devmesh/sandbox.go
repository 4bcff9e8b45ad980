package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/telemetry"
)

func cmdSandbox(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(env.stdout, "Usage: devmesh sandbox check")
		fmt.Fprintln(env.stdout, "       devmesh sandbox run [--runtime R] [--workspace DIR] [--memory M] [--time T] [--json] -- CMD...")
		fmt.Fprintln(env.stdout, "\ncheck runs the local driver's isolation probes; run runs one command as a run job would.")
		return nil
	}
	sub := args[0]
	if sub != "check" && sub != "run" {
		return &usageError{msg: fmt.Sprintf("unknown sandbox command %q", sub),
			hint: "the sandbox commands are: check, run"}
	}
	// The driver comes from the environment or DEVMESH_CONFIG
	// (DEVMESH_SANDBOX_DRIVER=local|kubernetes|aca); the remaining
	// arguments belong to the sandbox command itself.
	cfg, err := config.Flags(flag.NewFlagSet("", flag.ContinueOnError)).Load(env.getenv)
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(env.stderr, "warn", "text")
	d, release, err := newDriver(cfg, log)
	if err != nil {
		hint := "the local sandbox needs bubblewrap (apt-get install bubblewrap) and root for per-run users and cgroups"
		if cfg.Sandbox.Driver != config.DriverLocal {
			hint = "check the sandbox settings in DEVMESH_CONFIG; docs/operations.md lists them"
		}
		return &hintError{err: err, hint: hint}
	}
	defer release()
	if sub == "check" {
		err = sandbox.CheckCommand(ctx, d, args[1:], env.stdout, env.stderr)
	} else {
		err = sandbox.RunCommand(ctx, d, args[1:], env.stdout, env.stderr)
	}
	var re *sandbox.RunError
	if errors.As(err, &re) {
		// The outcome is already printed; exit non-zero without repeating it.
		return &quietError{err: err}
	}
	return err
}
