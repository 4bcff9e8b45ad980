// Command devmesh-sandbox-helper is the small binary the local sandbox
// driver re-executes twice per run, as the trampoline that joins the
// run's cgroups and as the init inside the sandbox. devmesh can play both
// roles itself, but its Kubernetes, Azure and telemetry dependencies run
// init functions that cost milliseconds at every start; when this helper
// sits next to the devmesh binary, the driver uses it instead.
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
