package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
)

// probeScript runs inside the sandbox and prints one JSON object of
// observations; the host decides what they mean.
const probeScript = `
import ctypes, json, os, socket, sys
out = {}
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    out["connect"] = "connected"
except OSError as e:
    out["connect"] = "refused: %s" % e
out["ifaces"] = [l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]]
out["environ"] = [dict(os.environ), open("/proc/1/environ", "rb").read().decode("latin-1") if os.access("/proc/1/environ", os.R_OK) else ""]
writable = []
for p in ["/probe", "/usr/probe", "/etc/probe", "/proc/sys/kernel/hostname"]:
    try:
        open(p, "w").write("x"); writable.append(p)
    except OSError:
        pass
out["writable"] = writable
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
out["seccomp"] = status.get("Seccomp", "").strip()
out["capeff"] = status.get("CapEff", "").strip()
out["uid"] = os.getuid()
libc = ctypes.CDLL(None, use_errno=True)
out["unshare"] = libc.unshare(0x10000000) == 0
print(json.dumps(out))
`

// probeObs is what probeScript reports.
type probeObs struct {
	Connect  string            `json:"connect"`
	Ifaces   []string          `json:"ifaces"`
	Environ  []json.RawMessage `json:"environ"`
	Writable []string          `json:"writable"`
	Seccomp  string            `json:"seccomp"`
	CapEff   string            `json:"capeff"`
	UID      int               `json:"uid"`
	Unshare  bool              `json:"unshare"`
}

// Preflight runs the isolation probes: one sandboxed run of probeScript
// with a host listener it must not reach, and host-side checks of the
// cgroups. Run refuses jobs until a preflight passes.
func (d *Driver) Preflight(ctx context.Context) ([]sandbox.ProbeResult, error) {
	probes, err := d.preflight(ctx)
	if err == nil {
		for _, p := range probes {
			if !p.OK {
				err = errors.Join(err, fmt.Errorf("probe %s failed: %s", p.Name, p.Detail))
			}
		}
	}
	d.mu.Lock()
	d.probes, d.probed = probes, err
	d.mu.Unlock()
	if err != nil {
		d.log.Error("sandbox preflight failed", "err", err)
		return probes, errs.Wrap(errs.Unavailable, err, "sandbox preflight failed")
	}
	d.log.Info("sandbox preflight passed", "probes", len(probes))
	return probes, nil
}

func (d *Driver) preflight(ctx context.Context) ([]sandbox.ProbeResult, error) {
	cgProbe := d.probeCgroups()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("preflight listener: %w", err)
	}
	defer ln.Close()
	var accepts atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	res, err := d.probeRun(ctx, port)
	if err != nil {
		return []sandbox.ProbeResult{cgProbe}, err
	}
	var obs probeObs
	if res.Outcome != sandbox.OK || json.Unmarshal(res.Stdout, &obs) != nil {
		return []sandbox.ProbeResult{cgProbe}, fmt.Errorf(
			"probe run ended %s (exit %d): %s %s", res.Outcome, res.ExitCode, res.Detail, tail(res.Stderr))
	}
	return []sandbox.ProbeResult{
		probeNetwork(obs, accepts.Load()),
		probeEnv(obs),
		probeReadOnly(obs),
		probeSeccomp(obs),
		probeUnprivileged(obs),
		cgProbe,
		probeCgroupJoined(res),
	}, nil
}

func (d *Driver) probeRun(ctx context.Context, port string) (sandbox.Result, error) {
	lim := sandbox.DefaultLimits()
	lim.WallTime = 20 * time.Second
	job := sandbox.Job{ID: "preflight", Runtime: "python", Limits: lim,
		Command: []string{"python3", "-c", probeScript, port}}
	slot, err := d.acquire(ctx)
	if err != nil {
		return sandbox.Result{}, err
	}
	defer d.release(slot)
	return d.runInSlot(ctx, job, slot)
}

func probe(name string, ok bool, format string, args ...any) sandbox.ProbeResult {
	return sandbox.ProbeResult{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)}
}

func probeNetwork(o probeObs, accepts int64) sandbox.ProbeResult {
	ok := accepts == 0 && !strings.HasPrefix(o.Connect, "connected") &&
		len(o.Ifaces) == 1 && o.Ifaces[0] == "lo"
	return probe("no network", ok, "host loopback accepts %d; %s; interfaces %v",
		accepts, o.Connect, o.Ifaces)
}

// probeEnv looks for any value of this server's environment in the
// sandbox's environment and in its /proc/1/environ. It reports names,
// never values.
func probeEnv(o probeObs) sandbox.ProbeResult {
	inside := ""
	for _, raw := range o.Environ {
		inside += string(raw)
	}
	var leaked []string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if len(v) < 8 || inRuntimeEnv(kv) {
			continue
		}
		if strings.Contains(inside, v) {
			leaked = append(leaked, k)
		}
	}
	return probe("no host secret in environment", len(leaked) == 0,
		"host variables visible inside: %v", leaked)
}

func inRuntimeEnv(kv string) bool {
	for _, rt := range sandbox.Runtimes {
		for _, e := range rt.Env {
			if e == kv {
				return true
			}
		}
	}
	return false
}

func probeReadOnly(o probeObs) sandbox.ProbeResult {
	return probe("read-only root", len(o.Writable) == 0, "writable outside workspace: %v", o.Writable)
}

func probeSeccomp(o probeObs) sandbox.ProbeResult {
	ok := o.Seccomp == "2" && !o.Unshare
	return probe("seccomp active", ok, "Seccomp mode %q, unshare allowed %v", o.Seccomp, o.Unshare)
}

func probeUnprivileged(o probeObs) sandbox.ProbeResult {
	ok := o.UID != 0 && strings.Trim(o.CapEff, "0") == ""
	return probe("no privileges", ok, "uid %d, effective capabilities %s", o.UID, o.CapEff)
}

// probeCgroups creates a cgroup, writes limits and reads them back.
func (d *Driver) probeCgroups() sandbox.ProbeResult {
	const mem = 64 << 20
	rc, err := d.cg.create("probe-"+randomSuffix(), cgroupLimits{memory: mem, pids: 8, cpus: 1})
	if err != nil {
		return probe("cgroups enforceable", false, "%v", err)
	}
	defer rc.remove()
	file, pidsFile := "memory.max", filepath.Join(rc.procsDir(), "pids.max")
	dir := rc.dirs[""]
	if !rc.v2 {
		file, dir = "memory.limit_in_bytes", rc.dirs["memory"]
	}
	got, pids := readInt(filepath.Join(dir, file)), readInt(pidsFile)
	version := map[bool]string{true: "v2", false: "v1"}[rc.v2]
	swap := "swap accounting absent"
	swapOK := true
	if memsw := filepath.Join(dir, "memory.memsw.limit_in_bytes"); !rc.v2 && fileExists(memsw) {
		n := readInt(memsw)
		swapOK, swap = n == mem, fmt.Sprintf("memory+swap limit reads %d", n)
	}
	return probe("cgroups enforceable", got == mem && pids == 8 && swapOK,
		"cgroup %s: memory limit reads %d (want %d), %s, pids.max %d (want 8)",
		version, got, mem, swap, pids)
}

// probeCgroupJoined checks that the probe run was charged to its cgroup,
// which only happens if its processes joined it.
func probeCgroupJoined(res sandbox.Result) sandbox.ProbeResult {
	return probe("run joins its cgroups", res.CPUTime > 0 && res.PeakMemory > 0,
		"cgroup charged %v CPU and %d bytes peak memory", res.CPUTime, res.PeakMemory)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
