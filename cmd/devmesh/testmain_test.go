package main

import (
	"os"
	"testing"

	"github.com/devmesh/devmesh/sandbox/local"
)

// TestMain lets the test binary serve as the sandbox's helper, as the
// devmesh binary does in main.
func TestMain(m *testing.M) {
	local.MaybeRunTrampoline()
	os.Exit(m.Run())
}
