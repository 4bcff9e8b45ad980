package local

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/devmesh/devmesh/sandbox"
)

// Paths inside the sandbox.
const (
	workDir  = "/workspace"
	tmpDir   = "/tmp"
	initPath = "/.devmesh/init"
	// sandboxUID is the uid and gid the command sees; on the host it is
	// the slot's unprivileged uid.
	sandboxUID = "1000"
)

// Fixed fd numbers in the trampoline and bwrap (ExtraFiles order).
const (
	fdSeccomp   = 3
	fdWorkspace = 4
	fdStatus    = 5
)

// usrMergeLinks are the top-level directories that Debian and most
// distributions make symlinks into /usr; they are recreated as links.
var usrMergeLinks = []string{"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"}

// bwrapArgs builds the bubblewrap command line of one run. Each option
// answers a threat; docs/sandbox.md lists them.
func (d *Driver) bwrapArgs(rt sandbox.Runtime, lim sandbox.Limits, hasWorkspace bool, argv []string) []string {
	size := strconv.FormatInt(lim.DiskBytes, 10)
	a := []string{
		// New user, pid, network (only a down loopback), IPC, UTS and
		// cgroup namespaces; no way to create more inside.
		"--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
		"--unshare-uts", "--unshare-cgroup", "--disable-userns",
		"--uid", sandboxUID, "--gid", sandboxUID, "--hostname", "sandbox",
		// The sandbox dies with the server; setsid stops TIOCSTI on the
		// server's terminal; no capabilities even inside the namespace.
		"--die-with-parent", "--new-session", "--cap-drop", "ALL",
		// The init is pid 1 itself, so no bwrap process outlives the
		// run as an orphan for the host's init to reap.
		"--as-pid-1",
	}
	a = append(a, d.rootfsArgs(rt)...)
	a = append(a,
		"--dev", "/dev",
		"--perms", "1777", "--size", size, "--tmpfs", "/dev/shm",
		"--proc", "/proc",
		"--perms", "1777", "--size", size, "--tmpfs", tmpDir,
		"--perms", "0755", "--size", size, "--tmpfs", workDir,
		"--remount-ro", "/",
		"--chdir", workDir,
		"--clearenv",
	)
	for _, kv := range rt.Env {
		k, v, _ := strings.Cut(kv, "=")
		a = append(a, "--setenv", k, v)
	}
	a = append(a, "--seccomp", strconv.Itoa(fdSeccomp), "--", initPath, initRole,
		d.initSpec(hasWorkspace, argv, rlimits(lim)))
	return a
}

// rootfsArgs mounts the runtime's directories read-only over an empty
// root, plus the synthetic /etc and the init binary. Nothing else of the
// host is visible: no /sys, /run, /home, /root, /var or host /etc.
func (d *Driver) rootfsArgs(rt sandbox.Runtime) []string {
	var a []string
	for _, b := range rt.Binds {
		if _, err := os.Stat(b); err == nil {
			a = append(a, "--ro-bind", b, b)
		}
	}
	for _, l := range usrMergeLinks {
		if target, err := os.Readlink(l); err == nil && !filepath.IsAbs(target) {
			a = append(a, "--symlink", target, l)
		}
	}
	for _, f := range etcFiles {
		a = append(a, "--ro-bind", filepath.Join(d.dir, "etc", f.name), "/etc/"+f.name)
	}
	return append(a, "--ro-bind", d.helper, initPath)
}

func (d *Driver) initSpec(hasWorkspace bool, argv []string, limits []rlimit) string {
	s := initSpec{
		WorkspaceFD: -1, StatusFD: fdStatus, Dir: workDir, Argv: argv,
		Watch: []string{workDir, tmpDir}, Rlimits: limits,
	}
	if hasWorkspace {
		s.WorkspaceFD = fdWorkspace
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// etcFiles is the whole /etc of the sandbox: enough for tools that look
// up the current user or localhost, nothing from the host.
var etcFiles = []struct{ name, content string }{
	{"passwd", "root:x:0:0:root:/:/usr/sbin/nologin\n" +
		"sandbox:x:1000:1000:sandbox:/workspace:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
	{"group", "root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n"},
	{"hosts", "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost\n"},
}
