// Package local runs sandbox jobs on this host with bubblewrap, cgroups,
// rlimits and a seccomp filter. See docs/sandbox.md for the threat model.
//
// A program that uses it must call MaybeRunTrampoline first thing in
// main: the driver re-executes the program's own binary as a helper.
package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
)

// Options configure a Driver. The zero value is usable with a Logger.
type Options struct {
	// Logger receives run and probe records; required.
	Logger *slog.Logger
	// Bwrap is the bubblewrap binary; default /usr/bin/bwrap.
	Bwrap string
	// Slots is how many runs may execute at once; default 2 per CPU.
	Slots int
	// BaseUID is the host uid and gid of slot 0; slot i runs as
	// BaseUID+i. The range must belong to no user and to no other
	// driver on the host. Default 61000.
	BaseUID int
	// CPUs is the CPU bandwidth (CFS quota) of one run; default 1.
	CPUs float64
	// Dir holds the driver's helper binary and synthetic /etc; default
	// os.TempDir(). It must not be writable by the slot uids.
	Dir string
	// Helper is the binary re-executed as trampoline and init; it must
	// call MaybeRunTrampoline first thing in main. Default: this
	// program's own binary. A small dedicated binary starts faster than
	// a server whose dependencies run heavy init functions, and that
	// start is paid twice per run.
	Helper string
	// Insecure lets Run proceed when a preflight probe fails. For
	// development only: every run then logs a warning.
	Insecure bool
}

// Driver runs jobs with bubblewrap. It is safe for concurrent use;
// Close it to remove its helper files.
type Driver struct {
	opts   Options
	log    *slog.Logger
	cg     *cgroupHost
	filter []byte
	dir    string // root-owned 0755 directory with helper and etc/
	helper string // copy of this binary, executable by the slot uids
	slots  chan int

	preflightMu sync.Mutex // held by the run that performs the first preflight

	mu     sync.Mutex // guards probes and probed
	probes []sandbox.ProbeResult
	probed error // nil after a passing preflight
}

var _ sandbox.Driver = (*Driver)(nil)

// New prepares a driver: it finds the cgroup hierarchies, assembles the
// seccomp filter and copies this binary where the unprivileged slot uids
// can execute it. It does not run the preflight probes.
func New(opts Options) (*Driver, error) {
	opts = withDefaults(opts)
	if opts.Logger == nil {
		return nil, fmt.Errorf("local sandbox: a logger is required")
	}
	// One cgroup parent per uid range: two drivers on a host must not
	// share slot uids, and then they do not share cgroups either.
	cg, err := detectCgroups("devmesh-sandbox-" + strconv.Itoa(opts.BaseUID))
	if err != nil {
		return nil, fmt.Errorf("local sandbox: %w", err)
	}
	filter, err := Filter()
	if err != nil {
		return nil, fmt.Errorf("local sandbox: %w", err)
	}
	d := &Driver{opts: opts, log: opts.Logger, cg: cg, filter: filter,
		probed: errs.E(errs.Unavailable, "sandbox preflight has not run")}
	if err := d.installHelper(); err != nil {
		return nil, fmt.Errorf("local sandbox: %w", err)
	}
	d.slots = make(chan int, opts.Slots)
	for i := range opts.Slots {
		d.slots <- i
	}
	return d, nil
}

func withDefaults(o Options) Options {
	if o.Bwrap == "" {
		o.Bwrap = "/usr/bin/bwrap"
	}
	if o.Slots <= 0 {
		o.Slots = 2 * runtime.NumCPU()
	}
	if o.BaseUID <= 0 {
		o.BaseUID = 61000
	}
	if o.CPUs <= 0 {
		o.CPUs = 1
	}
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	return o
}

// HelperName is the small helper binary the driver prefers when it sits
// next to the running executable (see cmd/devmesh-sandbox-helper).
const HelperName = "devmesh-sandbox-helper"

// defaultHelper returns the sibling helper binary if there is one, and
// the running executable otherwise.
func defaultHelper() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	sibling := filepath.Join(filepath.Dir(self), HelperName)
	if fi, err := os.Stat(sibling); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return sibling, nil
	}
	return self, nil
}

// installHelper copies the running binary and writes the synthetic /etc
// into a fresh directory only root can write. The binary's own path may
// sit in a directory the slot uids cannot search (go test builds in a
// 0700 directory), and the sandbox must not bind anything writable.
func (d *Driver) installHelper() error {
	dir, err := os.MkdirTemp(d.opts.Dir, "devmesh-sandbox-")
	if err != nil {
		return fmt.Errorf("create helper directory: %w", err)
	}
	d.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("create helper directory: %w", err)
	}
	self := d.opts.Helper
	if self == "" {
		if self, err = defaultHelper(); err != nil {
			return err
		}
	}
	d.helper = filepath.Join(dir, HelperName)
	if err := copyFile(self, d.helper, 0o755); err != nil {
		return err
	}
	// Modes are set with chmod, not only at creation: the process umask
	// (077 under devmesh up) would otherwise keep the per-run users out.
	etc := filepath.Join(dir, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		return fmt.Errorf("create helper directory: %w", err)
	}
	if err := os.Chmod(etc, 0o755); err != nil {
		return fmt.Errorf("create helper directory: %w", err)
	}
	for _, f := range etcFiles {
		p := filepath.Join(etc, f.name)
		if err := os.WriteFile(p, []byte(f.content), 0o644); err != nil {
			return fmt.Errorf("write sandbox /etc: %w", err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			return fmt.Errorf("write sandbox /etc: %w", err)
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy helper: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("copy helper: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy helper: %w", err)
	}
	if err := out.Chmod(mode); err != nil {
		out.Close()
		return fmt.Errorf("copy helper: %w", err)
	}
	return out.Close()
}

// Close removes the driver's helper files and cgroup parents. Runs must
// have finished.
func (d *Driver) Close() error {
	d.cg.removeParents()
	return os.RemoveAll(d.dir)
}

// acquire takes a free slot, waiting while all are busy.
func (d *Driver) acquire(ctx context.Context) (int, error) {
	select {
	case s := <-d.slots:
		return s, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("wait for a sandbox slot: %w", ctx.Err())
	}
}

func (d *Driver) release(slot int) { d.slots <- slot }
