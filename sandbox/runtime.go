package sandbox

import (
	"slices"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
)

// Runtime is a named language profile. The local driver mounts Binds
// read-only and sets Env; remote drivers run Image.
type Runtime struct {
	Name string
	// Binds are host directories mounted read-only at the same path.
	// Nothing else of the host file system is visible in the sandbox.
	Binds []string
	// Env is the complete environment of the command, as KEY=VALUE.
	Env []string
	// Image is the container image for remote drivers, pinned by digest.
	Image string
}

// baseEnv is shared by every runtime: nothing from the server leaks in.
var baseEnv = []string{
	"PATH=/usr/local/bin:/usr/bin:/bin",
	"HOME=/workspace",
	"TMPDIR=/tmp",
	"LANG=C.UTF-8",
	"USER=sandbox",
}

// Runtimes lists the profiles a task may name. The Image references are
// placeholders with an all-zero digest, used by tests of the remote
// drivers: no runtime image is published yet, so a deployment must pin
// its own in the sandbox.images setting, and devmesh refuses to start a
// remote driver while any runtime still names a placeholder.
var Runtimes = map[string]Runtime{
	"python": {
		Name:  "python",
		Binds: []string{"/usr"},
		Env: append(slices.Clone(baseEnv),
			"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"),
		// TODO: publish devmesh runtime images and pin their real digests
		// here; until then operators pin theirs in sandbox.images.
		Image: "docker.io/library/python:3.11-slim@sha256:" +
			"0000000000000000000000000000000000000000000000000000000000000000",
	},
	"go": {
		Name:  "go",
		Binds: []string{"/usr", "/usr/local/go"},
		Env: append(slices.Clone(baseEnv),
			"PATH=/usr/local/go/bin:/usr/bin:/bin",
			"GOROOT=/usr/local/go", "GOPATH=/tmp/go", "GOCACHE=/tmp/gocache",
			"GOTOOLCHAIN=local", "GOPROXY=off", "GOFLAGS=-mod=mod",
			"CGO_ENABLED=0"),
		Image: "docker.io/library/golang:1.26@sha256:" +
			"0000000000000000000000000000000000000000000000000000000000000000",
	},
	"node": {
		Name:  "node",
		Binds: []string{"/usr"},
		Env:   append(slices.Clone(baseEnv), "NODE_OPTIONS=--max-old-space-size=256"),
		Image: "docker.io/library/node:20-slim@sha256:" +
			"0000000000000000000000000000000000000000000000000000000000000000",
	},
}

// LookupRuntime returns the profile called name.
func LookupRuntime(name string) (Runtime, error) {
	r, ok := Runtimes[name]
	if !ok {
		return Runtime{}, errs.E(errs.Invalid,
			"unknown runtime %q: want python, go or node", name)
	}
	return r, nil
}

// PlaceholderImage reports whether image carries the all-zero digest of
// the built-in references, which names no real image.
func PlaceholderImage(image string) bool {
	return strings.HasSuffix(image, "@sha256:"+strings.Repeat("0", 64))
}
