package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/telemetry"
)

func cmdAudit(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(env.stdout, "Usage: devmesh audit verify [--data DIR | --db URL] [--key KEYFILE]")
		fmt.Fprintln(env.stdout, "\nverify re-hashes every event, rebuilds the Merkle tree, checks every signed")
		fmt.Fprintln(env.stdout, "checkpoint and their consistency, and exits non-zero naming the first bad event.")
		return nil
	}
	if args[0] != "verify" {
		return &usageError{msg: fmt.Sprintf("unknown audit command %q", args[0]),
			hint: "the audit commands are: verify"}
	}
	fs := newFlagSet(env, "audit verify", "audit verify [--data DIR | --db URL] [--key KEYFILE]")
	keyFile := fs.String("key", "", "verifier key `file` (default: derived from DATA/keys/log-signer.key)")
	l := config.Flags(fs)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := l.Load(env.getenv)
	if err != nil {
		return err
	}
	vkey, err := verifierKey(*keyFile, filepath.Join(cfg.DataDir, "keys", "log-signer.key"))
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(env.stderr, "warn", cfg.LogFormat)
	db, err := store.Open(ctx, cfg.DatabaseURLOrDefault(), store.Options{Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := audit.VerifyCommand(ctx, db, vkey, env.stdout, env.stderr); err != nil {
		var ve *audit.VerifyError
		if errors.As(err, &ve) {
			return &quietError{err: err}
		}
		return err
	}
	return nil
}

// verifierKey reads a note verifier key from keyFile, or derives it from
// the log's signer key file in the data directory.
func verifierKey(keyFile, signerFile string) (string, error) {
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return "", fmt.Errorf("read verifier key: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	b, err := os.ReadFile(signerFile)
	if err != nil {
		return "", &hintError{err: fmt.Errorf("read log signer key: %w", err),
			hint: "pass the log's public key with --key KEYFILE (GET /api/v1/log/key serves it)"}
	}
	s, err := audit.NewSigner(secret.New(strings.TrimSpace(string(b))))
	if err != nil {
		return "", err
	}
	return s.VerifierKey(), nil
}

func cmdReceipt(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(env.stdout, "Usage: devmesh receipt verify FILE --key KEYFILE")
		fmt.Fprintln(env.stdout, "\nverify checks every receipt in FILE (a receipt, an array of receipts or a")
		fmt.Fprintln(env.stdout, "report) offline: inclusion proofs against signed checkpoints, with no server.")
		return nil
	}
	if args[0] != "verify" {
		return &usageError{msg: fmt.Sprintf("unknown receipt command %q", args[0]),
			hint: "the receipt commands are: verify"}
	}
	fs := newFlagSet(env, "receipt verify", "receipt verify FILE --key KEYFILE")
	keyFile := fs.String("key", "", "the log's verifier key `file` (GET /api/v1/log/key)")
	// Accept the file before or after the flags.
	rest := args[1:]
	var file string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		file, rest = rest[0], rest[1:]
	}
	if err := parse(fs, rest); err != nil {
		return err
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
	}
	if file == "" || *keyFile == "" {
		return &usageError{msg: "receipt verify needs FILE and --key KEYFILE",
			hint: "devmesh receipt verify report.json --key log.pub"}
	}
	vkey, err := verifierKey(*keyFile, "")
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n, err := audit.VerifyReceipts(data, vkey)
	if err != nil {
		fmt.Fprintf(env.stdout, "FAIL: %v\n", err)
		return &quietError{err: err}
	}
	fmt.Fprintf(env.stdout, "ok: %d receipts verified offline\n", n)
	return nil
}
