package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/workspace"
)

// escape is one probe. run reports whether the probe got out, as seen
// from the host, with a detail for the failure message.
type escape struct {
	name string
	// control, when set, is why the negative control skips this probe.
	control string
	run     func(t *testing.T, d sandbox.Driver, sandboxed bool) (bool, string)
}

// RunEscapes runs every escape probe against d. With sandboxed true each
// must stay contained; with false (the negative control) each must
// escape, which proves the probe can see an escape at all.
func RunEscapes(t *testing.T, d sandbox.Driver, sandboxed bool) {
	for _, e := range escapes {
		t.Run(e.name, func(t *testing.T) {
			if !sandboxed && e.control != "" {
				t.Skip(e.control)
			}
			escaped, detail := e.run(t, d, sandboxed)
			switch {
			case sandboxed && escaped:
				t.Errorf("escaped the sandbox: %s", detail)
			case !sandboxed && !escaped:
				t.Errorf("negative control did not escape, so this probe cannot detect an escape: %s", detail)
			}
		})
	}
}

var escapes = []escape{
	{name: "tcp to host loopback", run: tcpProbe("tcp4", "127.0.0.1")},
	{name: "tcp to host address", run: tcpProbe("tcp4", "")},
	{name: "tcp to host ipv6 loopback", run: tcpProbe("tcp6", "::1")},
	{name: "udp to host loopback", run: udpProbe},
	{name: "dns", run: dnsProbe},
	{name: "raw socket", run: socketProbe("AF_INET", "SOCK_RAW", "IPPROTO_ICMP")},
	{name: "packet socket", run: socketProbe("AF_PACKET", "SOCK_RAW", "768")},
	{name: "netlink socket", run: socketProbe("AF_NETLINK", "SOCK_RAW", "0")},
	{name: "vsock socket", run: socketProbe("40", "SOCK_STREAM", "0")},
	{name: "abstract unix socket", run: abstractProbe},
	{name: "cloud metadata address", run: metadataProbe,
		control: "connecting without a sandbox would send packets off this machine"},
	{name: "host environment secret", run: envProbe},
	{name: "host files", run: hostFilesProbe},
	{name: "writes outside workspace", run: writeProbe},
	{name: "setuid gives no root", run: setuidProbe},
	{name: "minimal dev", run: devProbe},
	{name: "ptrace", run: ptraceProbe},
	{name: "new namespaces", run: unshareProbe},
	{name: "clock setting", run: clockProbe},
	{name: "orphans and daemons", run: orphanProbe},
	{name: "sibling workspace", run: siblingProbe},
}

const connectScript = `
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "tcp6" else socket.AF_INET
try:
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect((sys.argv[2], int(sys.argv[3])))
    print("connected")
except OSError as e:
    print("blocked errno=%s" % e.errno)
`

func tcpProbe(network, host string) func(*testing.T, sandbox.Driver, bool) (bool, string) {
	return func(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
		if host == "" {
			if host = hostAddress(); host == "" {
				t.Skip("this host has no non-loopback IPv4 address")
			}
		}
		l := listen(t, network, net2addr(host))
		port := strconv.Itoa(portOf(l.ln.Addr().String()))
		res := runPython(t, d, "tcp", connectScript, network, host, port)
		settle()
		n := l.accepts.Load()
		return n > 0, fmt.Sprintf("host accepted %d connections; probe said %q", n, lastLine(res))
	}
}

func net2addr(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:0"
	}
	return host + ":0"
}

func portOf(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	p, _ := strconv.Atoi(addr[i+1:])
	return p
}

const udpScript = `
import socket, sys
sent = 0
for _ in range(3):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(bytes.fromhex(sys.argv[2]), ("127.0.0.1", int(sys.argv[1])))
        sent += 1
    except OSError as e:
        err = e.errno
print("sent %d" % sent)
`

func udpProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	p := listenUDP(t, "127.0.0.1:0")
	port := strconv.Itoa(portOf(p.pc.LocalAddr().String()))
	res := runPython(t, d, "udp", udpScript, port, hex.EncodeToString([]byte("probe")))
	settle()
	n := p.n.Load()
	return n > 0, fmt.Sprintf("host received %d datagrams; probe said %q", n, lastLine(res))
}

// dnsQuery is a standard query for devmesh-probe.invalid, type A.
var dnsQuery = append([]byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	13}, append([]byte("devmesh-probe\x07invalid\x00"), 0, 1, 0, 1)...)

const dnsScript = udpScript + `
try:
    print("resolv.conf readable: %d bytes" % len(open("/etc/resolv.conf").read()))
except OSError:
    print("resolv.conf unreadable")
`

// dnsProbe plays resolver on the host loopback, and checks that the
// host's resolver configuration is not visible either.
func dnsProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	p := listenUDP(t, "127.0.0.1:0")
	port := strconv.Itoa(portOf(p.pc.LocalAddr().String()))
	res := runPython(t, d, "dns", dnsScript, port, hex.EncodeToString(dnsQuery))
	settle()
	n := p.n.Load()
	_, hostHas := os.Stat("/etc/resolv.conf")
	readable := strings.Contains(string(res.Stdout), "resolv.conf readable")
	escaped := n > 0 || (hostHas == nil && readable)
	return escaped, fmt.Sprintf("host resolver got %d queries; %q", n, strings.TrimSpace(string(res.Stdout)))
}

const socketScript = `
import socket, sys
def c(v):
    return getattr(socket, v) if hasattr(socket, v) else int(v)
try:
    s = socket.socket(c(sys.argv[1]), c(sys.argv[2]), c(sys.argv[3]))
    print("created")
except OSError as e:
    print("blocked errno=%s" % e.errno)
`

// socketProbe creates a socket of a family the sandbox must refuse.
// Creating one is the escape: raw and packet sockets see the host's
// traffic, vsock and netlink reach past the network namespace.
func socketProbe(family, typ, proto string) func(*testing.T, sandbox.Driver, bool) (bool, string) {
	return func(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
		res := runPython(t, d, "socket", socketScript, family, typ, proto)
		return lastLine(res) == "created", fmt.Sprintf("socket(%s, %s, %s): %s", family, typ, proto, lastLine(res))
	}
}

const abstractScript = `
import socket, sys
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect("\0" + sys.argv[1])
    print("connected")
except OSError as e:
    print("blocked errno=%s" % e.errno)
`

func abstractProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	name := "devmesh-probe-" + randomToken(t)
	l := listen(t, "unix", "@"+name)
	res := runPython(t, d, "abstract", abstractScript, name)
	settle()
	n := l.accepts.Load()
	return n > 0, fmt.Sprintf("host accepted %d connections; probe said %q", n, lastLine(res))
}

// metadataProbe must fail at once with "network unreachable": no route
// means no packet left the sandbox. A timeout would mean one did.
func metadataProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	res := runPython(t, d, "metadata", connectScript, "tcp4", "169.254.169.254", "80")
	line := lastLine(res)
	return line != "blocked errno=101", "probe said " + strconv.Quote(line) + ", want network unreachable (101)"
}

func sha(s []byte) string {
	h := sha256.Sum256(s)
	return hex.EncodeToString(h[:])
}

const envScript = `
import glob, hashlib, os, sys
want = sys.argv[1]
found = []
def check(where, values):
    for v in values:
        if hashlib.sha256(v).hexdigest() == want:
            found.append(where)
check("environ", [v.encode() for v in os.environ.values()])
for p in glob.glob("/proc/[0-9]*/environ"):
    try:
        data = open(p, "rb").read()
    except OSError:
        continue
    check(p, [kv.split(b"=", 1)[-1] for kv in data.split(b"\0")])
print("found in %s" % found if found else "not found")
`

// envProbe puts a random secret in this process's environment, as a
// server keeps its keys, and looks for it inside by hash: passing the
// secret itself in argv would plant it.
func envProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	secret := randomToken(t)
	t.Setenv("DEVMESH_CONFORMANCE_SECRET", secret)
	res := runPython(t, d, "env", envScript, sha([]byte(secret)))
	line := lastLine(res)
	return strings.HasPrefix(line, "found"), line
}

const readScript = `
import hashlib, json, sys
out = {}
for p in sys.argv[1:]:
    try:
        out[p] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    except OSError as e:
        out[p] = "error %s" % e.errno
print(json.dumps(out))
`

// hostFilesProbe tries to read /etc/shadow and a data directory with a
// key file and a database file, as the server keeps them.
func hostFilesProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	data := filepath.Join(t.TempDir(), "devmesh-data")
	want := map[string]string{}
	for _, f := range []string{"server.key", "devmesh.db"} {
		p := filepath.Join(data, f)
		b := []byte(randomToken(t))
		mustWrite(t, p, b, 0o600)
		want[p] = sha(b)
	}
	if b, err := os.ReadFile("/etc/shadow"); err == nil {
		want["/etc/shadow"] = sha(b)
	}
	args := slices.Sorted(mapKeys(want))
	res := runPython(t, d, "files", readScript, args...)
	var got map[string]string
	if err := json.Unmarshal([]byte(lastLine(res)), &got); err != nil {
		t.Fatalf("probe output %q: %v", res.Stdout, err)
	}
	var read []string
	for p, h := range want {
		if got[p] == h {
			read = append(read, p)
		}
	}
	return len(read) > 0, fmt.Sprintf("read %v; probe said %v", read, got)
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mustWrite(t *testing.T, p string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
}

const writeScript = `
import sys
ok = []
for p in sys.argv[1:]:
    try:
        open(p, "w").write("escaped")
        ok.append(p)
    except OSError:
        pass
print("wrote %s" % ok)
`

// writeProbe writes to a world-writable host directory and to the
// host's /tmp; the host then looks for the files.
func writeProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	targets := []string{
		filepath.Join(dir, "escaped"),
		filepath.Join(os.TempDir(), "devmesh-probe-"+randomToken(t)),
	}
	res := runPython(t, d, "write", writeScript, targets...)
	var landed []string
	for _, p := range targets {
		if _, err := os.Lstat(p); err == nil {
			landed = append(landed, p)
			os.Remove(p)
		}
	}
	return len(landed) > 0, fmt.Sprintf("host sees %v; probe said %q", landed, lastLine(res))
}

const setuidScript = `
import os
st = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
print("euid=%d no_new_privs=%s" % (os.geteuid(), st.get("NoNewPrivs", "?").strip()))
`

// setuidProbe checks the two things that make set-id binaries useless:
// the command is not root, and no_new_privs makes exec ignore set-id bits.
func setuidProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	line := lastLine(runPython(t, d, "setuid", setuidScript))
	contained := strings.HasSuffix(line, " no_new_privs=1") && !strings.HasPrefix(line, "euid=0 ")
	return !contained, line
}

// allowedDev is what a minimal /dev holds.
var allowedDev = []string{"console", "core", "fd", "full", "mqueue", "null", "ptmx",
	"pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"}

func devProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	res := runPython(t, d, "dev", `import os; print(" ".join(sorted(os.listdir("/dev"))))`)
	var extra []string
	for _, f := range strings.Fields(lastLine(res)) {
		if !slices.Contains(allowedDev, f) {
			extra = append(extra, f)
		}
	}
	return len(extra) > 0, fmt.Sprintf("unexpected devices %v", extra)
}

const ptraceScript = `
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
got = []
for pid in sys.argv[1:]:
    if libc.ptrace(0x4206, int(pid), None, None) == 0:  # PTRACE_SEIZE
        got.append(pid)
        libc.ptrace(17, int(pid), None, None)  # PTRACE_DETACH
print("traced %s" % got)
`

// ptraceProbe tries to attach to a host process the test starts and,
// inside a sandbox, to pid 1. PTRACE_SEIZE does not stop the target,
// and the probe detaches at once.
func ptraceProbe(t *testing.T, d sandbox.Driver, sandboxed bool) (bool, string) {
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { victim.Process.Kill(); victim.Wait() }()
	pids := []string{strconv.Itoa(victim.Process.Pid)}
	if sandboxed {
		pids = append(pids, "1") // never the host's init in the control
	}
	line := lastLine(runPython(t, d, "ptrace", ptraceScript, pids...))
	return line != "traced []", line
}

const unshareScript = `
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
ok = [name for name, flag in [("user", 0x10000000), ("net", 0x40000000), ("mount", 0x20000)]
      if libc.unshare(flag) == 0]
print("unshared %s" % ok)
`

func unshareProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	line := lastLine(runPython(t, d, "unshare", unshareScript))
	return line != "unshared []", line
}

// clockScript (x86-64 syscall numbers) asks to set the clock to an invalid time. The kernel
// checks the value before the privilege, so outside a sandbox it fails
// with EINVAL and the host clock never changes; a sandbox must refuse
// the call itself with EPERM.
const clockScript = `
import ctypes
class ts(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(227, 0, ctypes.byref(ts(1, 2000000000)))  # clock_settime, not
# glibc's wrapper, which rejects the value before the kernel sees it
print("errno=%d" % (ctypes.get_errno() if r != 0 else 0))
`

func clockProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	line := lastLine(runPython(t, d, "clock", clockScript))
	return line != "errno=1", "clock_settime: " + line + ", want errno=1 (EPERM)"
}

const orphanScript = `
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.closerange(0, 3)
        os.execvp("sleep", [sys.argv[1], "300"])
    os._exit(0)
os.wait()
print("daemon started")
`

// orphanProbe starts a double-forked daemon with a marker as its argv[0]
// and looks for it among the host's processes after the run.
func orphanProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	marker := "devmesh-orphan-" + randomToken(t)
	res := runPython(t, d, "orphan", orphanScript, marker)
	time.Sleep(100 * time.Millisecond)
	pids := findProcesses(marker)
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGKILL)
	}
	return len(pids) > 0, fmt.Sprintf("surviving processes %v; probe said %q", pids, lastLine(res))
}

// findProcesses returns host pids whose argv[0] is marker.
func findProcesses(marker string) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if argv0, _, _ := bytes.Cut(b, []byte{0}); string(argv0) == marker {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, pid)
		}
	}
	return out
}

const siblingScript = `
import glob, hashlib, sys
found = []
for pat in ["/proc/[0-9]*/cwd/secret.txt", "/proc/[0-9]*/root/workspace/secret.txt",
            "/workspace/../*/secret.txt", "/tmp/*/secret.txt", "/tmp/secret.txt"]:
    for p in glob.glob(pat):
        try:
            if hashlib.sha256(open(p, "rb").read()).hexdigest() == sys.argv[1]:
                found.append(p)
        except OSError:
            pass
print("found %s" % found)
`

// siblingProbe runs a job whose workspace holds a secret and, while it
// runs, a second job that hunts for that file.
func siblingProbe(t *testing.T, d sandbox.Driver, _ bool) (bool, string) {
	secret := randomToken(t)
	tree := workspace.NewTree(workspace.Limits{})
	if err := tree.Put("secret.txt", workspace.File{Content: secret}); err != nil {
		t.Fatal(err)
	}
	archive, _, err := workspace.Archive(tree)
	if err != nil {
		t.Fatal(err)
	}
	holder := sandbox.Job{ID: "conf-holder", Runtime: "python", Limits: probeLimits(),
		Workspace: bytes.NewReader(archive),
		Command:   []string{"python3", "-c", "import time; time.sleep(4)"}}
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := d.Run(t.Context(), holder); err != nil {
			t.Errorf("run holder: %v", err)
		}
	})
	time.Sleep(1500 * time.Millisecond)
	line := lastLine(runPython(t, d, "sibling", siblingScript, sha([]byte(secret))))
	wg.Wait()
	return line != "found []", line
}
