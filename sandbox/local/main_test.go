package local

import (
	"log/slog"
	"os"
	"os/exec"
	"testing"
)

func TestMain(m *testing.M) {
	MaybeRunTrampoline()
	os.Exit(m.Run())
}

// mustDriver returns a local driver or skips when this host cannot run
// one (not root, no bubblewrap). Under CI a missing bwrap fails.
func mustDriver(t testing.TB, opts Options) *Driver {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the local sandbox driver needs root to create cgroups")
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("bwrap is not installed: CI must test the local sandbox")
		}
		t.Skip("bwrap is not installed")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
