package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
	"golang.org/x/sys/unix"
)

// reservedTasks are pids-cgroup slots for the sandbox's own machinery:
// two bwrap processes and the init with its runtime threads.
const reservedTasks = 16

// cpuPoll is how often the CPU-time counter is read; a run may overshoot
// its CPU limit by about this much times the CPUs option.
const cpuPoll = 20 * time.Millisecond

// drainTimeout bounds the wait for output pipes after the cgroup is
// empty; nothing outside the cgroup holds them, so it is a backstop.
const drainTimeout = 5 * time.Second

// Run executes job in a fresh sandbox; see sandbox.Driver.
func (d *Driver) Run(ctx context.Context, job sandbox.Job) (sandbox.Result, error) {
	if err := job.Validate(); err != nil {
		return sandbox.Result{}, err
	}
	if err := d.requirePreflight(ctx); err != nil {
		return sandbox.Result{}, err
	}
	slot, err := d.acquire(ctx)
	if err != nil {
		return sandbox.Result{}, err
	}
	defer d.release(slot)
	return d.runInSlot(ctx, job, slot)
}

// requirePreflight refuses runs until the probes have passed once,
// unless the driver is insecure.
func (d *Driver) requirePreflight(ctx context.Context) error {
	d.mu.Lock()
	err := d.probed
	d.mu.Unlock()
	if err != nil && !d.opts.Insecure {
		// One preflight at a time; runs that waited use its verdict.
		d.preflightMu.Lock()
		defer d.preflightMu.Unlock()
		d.mu.Lock()
		err = d.probed
		d.mu.Unlock()
		if err == nil {
			return nil
		}
		if _, err = d.Preflight(ctx); err != nil {
			return errs.Wrap(errs.Unavailable, err, "sandbox is not isolating")
		}
	}
	if d.opts.Insecure {
		d.log.Warn("INSECURE sandbox: running without a passing preflight",
			"preflight", fmt.Sprint(err))
	}
	return nil
}

// run is the state of one run while it executes.
type run struct {
	job   sandbox.Job
	cg    *runCgroup
	cap   *sandbox.Capture
	mu    sync.Mutex // guards stop
	stop  string     // first reason the driver stopped the run, or ""
	start time.Time
}

// halt records why the driver ends the run and kills it. Only the first
// reason counts.
func (r *run) halt(reason string) {
	r.mu.Lock()
	first := r.stop == ""
	if first {
		r.stop = reason
	}
	r.mu.Unlock()
	if first {
		_ = r.cg.kill()
	}
}

func (r *run) stopReason() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stop
}

// Stop reasons recorded by halt.
const (
	stopWall     = "wall"
	stopCPU      = "cpu"
	stopOutput   = "output"
	stopCanceled = "canceled"
)

func (d *Driver) runInSlot(ctx context.Context, job sandbox.Job, slot int) (sandbox.Result, error) {
	id := job.ID + "-" + randomSuffix()
	cg, err := d.cg.create(id, cgroupLimits{
		memory: job.Limits.MemoryBytes,
		pids:   job.Limits.Processes + reservedTasks,
		cpus:   d.opts.CPUs,
	})
	if err != nil {
		return sandbox.Result{}, fmt.Errorf("run %s: %w", job.ID, err)
	}
	r := &run{job: job, cg: cg}
	r.cap = sandbox.NewCapture(job.Limits.OutputBytes, job.Output,
		func() { go r.halt(stopOutput) })
	defer d.teardown(r)

	res, err := d.execute(ctx, r, slot)
	d.log.Info("sandbox run finished", "job", job.ID, "slot", slot,
		"outcome", res.Outcome, "exit_code", res.ExitCode,
		"duration_ms", res.Duration.Milliseconds())
	return res, err
}

// teardown kills whatever is left of the run and removes its cgroups.
func (d *Driver) teardown(r *run) {
	if err := r.cg.kill(); err != nil {
		d.log.Error("sandbox teardown", "job", r.job.ID, "err", err)
	}
	if err := r.cg.remove(); err != nil {
		d.log.Error("sandbox teardown", "job", r.job.ID, "err", err)
	}
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pipes are the host ends of a run's file descriptors and the child ends
// handed to the trampoline.
type pipes struct {
	outR, errR, statusR *os.File
	wsW                 *os.File // nil without a workspace
	release             *os.File // go-ahead for the trampoline
	child               []*os.File
	extra               []*os.File // ExtraFiles, fd 3 onwards
	in, out, err        *os.File   // the trampoline's stdin, stdout, stderr
}

func (p *pipes) closeChild() {
	closeAll(p.child)
}

func (d *Driver) openPipes(r *run) (*pipes, error) {
	p := &pipes{}
	var err error
	fail := func(e error) (*pipes, error) {
		p.closeChild()
		closeAll([]*os.File{p.outR, p.errR, p.statusR, p.wsW, p.release})
		return nil, fmt.Errorf("create sandbox pipes: %w", e)
	}
	pair := func(hostReads bool) (host, child *os.File) {
		if err != nil {
			return nil, nil
		}
		var rd, wr *os.File
		rd, wr, err = os.Pipe()
		if hostReads {
			host, child = rd, wr
		} else {
			host, child = wr, rd
		}
		if err == nil {
			p.child = append(p.child, child)
		}
		return host, child
	}
	sw, seccompR := pair(false)
	var outW, errW, statusW, wsR *os.File
	p.outR, outW = pair(true)
	p.errR, errW = pair(true)
	p.statusR, statusW = pair(true)
	p.wsW, wsR = pair(false)
	p.release, p.in = pair(false)
	if err != nil {
		return fail(err)
	}
	// The filter is small enough for the pipe buffer.
	if _, err := sw.Write(d.filter); err != nil {
		return fail(err)
	}
	sw.Close()
	if r.job.Workspace == nil {
		p.wsW.Close()
		p.wsW = nil
	}
	p.extra = []*os.File{seccompR, wsR, statusW}
	p.out, p.err = outW, errW
	return p, nil
}

// command builds the trampoline process of a run in slot.
func (d *Driver) command(r *run, p *pipes, slot int) (*exec.Cmd, error) {
	args := d.bwrapArgs(mustRuntime(r.job.Runtime), r.job.Limits, r.job.Workspace != nil, r.job.Command)
	argv := append([]string{trampolineName, "-c", trampolineScript, trampolineName, d.opts.Bwrap}, args...)
	uid := uint32(d.opts.BaseUID + slot)
	cmd := &exec.Cmd{
		Path: trampolineShell,
		Args: argv,
		// Never nil: a nil Env would hand the server's environment,
		// secrets included, to the sandbox's /proc/1/environ.
		Env:        []string{"PATH=/usr/bin:/bin"},
		Dir:        "/",
		Stdin:      p.in,
		Stdout:     p.out,
		Stderr:     p.err,
		ExtraFiles: p.extra,
		SysProcAttr: &syscall.SysProcAttr{
			// An unprivileged host uid per slot: bwrap run as root would
			// map the sandbox's user to host root.
			Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}},
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	return cmd, nil
}

func mustRuntime(name string) sandbox.Runtime {
	rt, _ := sandbox.LookupRuntime(name) // validated by Job.Validate
	return rt
}

// rlimit is one resource limit the init sets, soft and hard alike.
type rlimit struct {
	Resource int    `json:"resource"`
	Value    uint64 `json:"value"`
}

// rlimits are per-process backstops; the cgroups are the real limits.
// The init sets them on itself before it starts the command, so the
// command and everything it starts inherit them and, without
// capabilities, cannot raise them.
func rlimits(l sandbox.Limits) []rlimit {
	cpu := uint64(math.Ceil(l.CPUTime.Seconds())) + 1
	// Above pids.max, so the cgroup, which counts refusals, trips first.
	tasks := uint64(l.Processes + 2*reservedTasks)
	return []rlimit{
		{Resource: unix.RLIMIT_CORE, Value: 0},
		{Resource: unix.RLIMIT_CPU, Value: cpu},
		{Resource: unix.RLIMIT_NOFILE, Value: uint64(l.OpenFiles)},
		// Counted per host uid, which belongs to this run alone.
		{Resource: unix.RLIMIT_NPROC, Value: tasks},
	}
}

// execute starts the run, supervises it and classifies its end.
func (d *Driver) execute(ctx context.Context, r *run, slot int) (sandbox.Result, error) {
	p, err := d.openPipes(r)
	if err != nil {
		return sandbox.Result{}, err
	}
	cmd, err := d.command(r, p, slot)
	if err != nil {
		p.closeChild()
		return sandbox.Result{}, err
	}
	r.start = time.Now()
	err = cmd.Start()
	p.closeChild()
	if err != nil {
		closeAll([]*os.File{p.outR, p.errR, p.statusR, p.wsW, p.release})
		return sandbox.Result{}, fmt.Errorf("start sandbox: %w", err)
	}
	if err := admit(r.cg, cmd.Process.Pid, p.release); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		closeAll([]*os.File{p.outR, p.errR, p.statusR, p.wsW})
		return sandbox.Result{}, fmt.Errorf("start sandbox: %w", err)
	}
	var wg sync.WaitGroup
	var status []byte
	wg.Go(func() { r.cap.Copy(sandbox.Stdout, p.outR) })
	wg.Go(func() { r.cap.Copy(sandbox.Stderr, p.errR) })
	wg.Go(func() { status, _ = io.ReadAll(io.LimitReader(p.statusR, 4096)) })
	if p.wsW != nil {
		go feedWorkspace(p.wsW, r.job.Workspace)
	}
	stopWatch := d.watch(ctx, r)
	waitErr := cmd.Wait()
	stopWatch()
	duration := time.Since(r.start)

	_ = r.cg.kill()
	drained := waitTimeout(&wg, drainTimeout)
	closeAll([]*os.File{p.outR, p.errR, p.statusR})
	if !drained {
		d.log.Error("sandbox output pipes still open after teardown", "job", r.job.ID)
	}
	return d.classify(r, cmd, waitErr, status, duration), nil
}

// feedWorkspace streams the workspace archive into the sandbox. An error
// means the init stopped reading; the init reports why.
func feedWorkspace(w *os.File, src io.Reader) {
	_, _ = io.Copy(w, src)
	w.Close()
}

// watch enforces the wall-clock and CPU-time limits and the caller's
// context until the returned function is called.
func (d *Driver) watch(ctx context.Context, r *run) func() {
	done := make(chan struct{})
	go func() {
		wall := time.NewTimer(r.job.Limits.WallTime)
		defer wall.Stop()
		tick := time.NewTicker(cpuPoll)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				r.halt(stopCanceled)
				return
			case <-wall.C:
				r.halt(stopWall)
				return
			case <-tick.C:
				if r.cg.cpuUsage() > r.job.Limits.CPUTime {
					r.halt(stopCPU)
					return
				}
			}
		}
	}()
	return func() { close(done) }
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// errSandboxExited is the detail of a run whose init never reported.
var errSandboxExited = errors.New("sandbox exited before the command finished")
