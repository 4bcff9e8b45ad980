package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/devmesh/devmesh/app"
	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/telemetry"
)

func cmdAdmin(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(env.stdout, "Usage: devmesh admin create-recruiter --org NAME --email EMAIL --role ROLE")
		fmt.Fprintln(env.stdout, "\nThe password is read from standard input, never from a flag.")
		return nil
	}
	if args[0] != "create-recruiter" {
		return &usageError{msg: fmt.Sprintf("unknown admin command %q", args[0]),
			hint: "the admin commands are: create-recruiter"}
	}
	return cmdCreateRecruiter(ctx, env, args[1:])
}

func cmdCreateRecruiter(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "admin create-recruiter",
		"admin create-recruiter --org NAME --email EMAIL --role ROLE < password")
	org := fs.String("org", "", "organisation `name` (created if new)")
	email := fs.String("email", "", "the recruiter's `email`")
	role := fs.String("role", store.RoleRecruiter, "`role`: owner, admin, recruiter or viewer")
	l := config.Flags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	var missing []string
	for name, v := range map[string]string{"--org": *org, "--email": *email} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return &usageError{msg: "missing " + strings.Join(missing, " and "),
			hint: "devmesh admin create-recruiter --org Acme --email ada@acme.example --role owner"}
	}
	cfg, err := l.Load(env.getenv)
	if err != nil {
		return err
	}
	password, err := readPassword(env)
	if err != nil {
		return err
	}
	if err := app.CheckPassword(password); err != nil {
		return err
	}
	log := telemetry.NewLogger(io.Discard, "error", "text")
	db, err := store.Open(ctx, cfg.DatabaseURLOrDefault(), store.Options{Logger: log})
	if err != nil {
		return &hintError{err: err, hint: "run 'devmesh up' once (or 'devmesh migrate') to create the database"}
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	r, orgCreated, err := app.CreateRecruiter(ctx, db, *org, *email, *role, password)
	if err != nil {
		return err
	}
	if orgCreated {
		fmt.Fprintf(env.stdout, "created organisation %q\n", *org)
	}
	fmt.Fprintf(env.stdout, "created %s %s (%s)\n", r.Role, r.Email, r.ID)
	return nil
}

// readPassword reads one line from standard input. On a terminal it
// prompts and does not echo.
func readPassword(env *cmdEnv) (secret.String, error) {
	if f, ok := env.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return secret.String{}, fmt.Errorf("read password: %w", err)
		}
		return secret.New(string(b)), nil
	}
	line, err := bufio.NewReader(io.LimitReader(env.stdin, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return secret.String{}, fmt.Errorf("read password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return secret.String{}, &usageError{msg: "no password on standard input",
			hint: "pipe it in: printf '%s\\n' \"$PASSWORD\" | devmesh admin create-recruiter ..."}
	}
	return secret.New(pw), nil
}
