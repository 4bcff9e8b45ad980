package conformance

import (
	"log/slog"
	"os"
	"os/exec"
	"testing"

	"github.com/devmesh/devmesh/sandbox/local"
)

func TestMain(m *testing.M) {
	local.MaybeRunTrampoline()
	os.Exit(m.Run())
}

func localDriver(t *testing.T) *local.Driver {
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
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := local.New(local.Options{Logger: logger, BaseUID: 62000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Preflight(t.Context()); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLocalContainsEscapes(t *testing.T) {
	RunEscapes(t, localDriver(t), true)
}

func TestLocalEnforcesLimits(t *testing.T) {
	RunLimits(t, localDriver(t))
}
