// Command helper is a minimal sandbox helper binary: it only runs the
// local driver's init role. Benchmarks build it to
// measure a run without the start-up cost of a large binary.
package main

import (
	"fmt"
	"os"

	"github.com/devmesh/devmesh/sandbox/local"
)

func main() {
	local.MaybeRunTrampoline()
	fmt.Fprintln(os.Stderr, "helper: run only by the local sandbox driver")
	os.Exit(2)
}
