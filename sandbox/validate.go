package sandbox

import (
	"github.com/devmesh/devmesh/internal/errs"
)

// maxArgBytes bounds a command line; the kernel's own limit is larger.
const maxArgBytes = 128 * 1024

// Validate checks a job before any sandbox is created.
func (j Job) Validate() error {
	if !validID(j.ID) {
		return errs.E(errs.Invalid, "invalid job id %q: want 1-64 of [A-Za-z0-9_-]", j.ID)
	}
	if _, err := LookupRuntime(j.Runtime); err != nil {
		return err
	}
	if len(j.Command) == 0 || j.Command[0] == "" {
		return errs.E(errs.Invalid, "invalid command: empty")
	}
	n := 0
	for _, a := range j.Command {
		n += len(a) + 1
		for i := 0; i < len(a); i++ {
			if a[i] == 0 {
				return errs.E(errs.Invalid, "invalid command argument %q: contains NUL", a)
			}
		}
	}
	if n > maxArgBytes {
		return errs.E(errs.Invalid, "invalid command: %d bytes, over %d", n, maxArgBytes)
	}
	return j.Limits.Validate()
}

func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		ok := r == '-' || r == '_' || (r >= '0' && r <= '9') ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}
