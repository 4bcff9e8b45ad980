// Command devmesh-sandbox-helper is the small binary the local sandbox
// driver starts as the init inside every sandbox: it unpacks the
// workspace, sets the run's rlimits, runs the command and reaps orphans.
// devmesh can play that role itself, but its Kubernetes, Azure and
// telemetry dependencies run init functions that cost milliseconds at
// every start; when this helper sits next to the devmesh binary, the
// driver uses it instead.
package main

import (
	"fmt"
	"os"

	"github.com/devmesh/devmesh/sandbox/local"
)

func main() {
	local.MaybeRunTrampoline()
	fmt.Fprintln(os.Stderr, "devmesh-sandbox-helper: run only by devmesh's local sandbox driver")
	os.Exit(2)
}
