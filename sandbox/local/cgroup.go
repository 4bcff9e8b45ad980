package local

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// v1Controllers are the cgroup v1 hierarchies a run joins.
var v1Controllers = []string{"memory", "pids", "cpu", "cpuacct", "freezer"}

// cgroupHost says where this host keeps its cgroups. It is read once,
// when the driver is created.
type cgroupHost struct {
	v2 bool
	// parents maps a v1 controller to the directory runs are created in;
	// for v2 the single parent is under the key "".
	parents map[string]string
}

// cgroupStats are the counters read from a run's cgroups after it ends.
type cgroupStats struct {
	cpu        time.Duration
	peakMemory int64
	oomKills   int64
	pidsMax    int64 // times a fork failed on the pids limit
}

// runCgroup is the set of cgroups of one run.
type runCgroup struct {
	v2   bool
	dirs map[string]string // controller ("" for v2) -> directory
}

// cgroupLimits are the values written into a run's cgroups.
type cgroupLimits struct {
	memory int64
	pids   int
	cpus   float64
}

const cpuPeriodMicros = 100000

// detectCgroups finds the cgroup mounts and this process's own cgroups.
// Runs are created under "<own cgroup>/<name>", so limits set on the
// server's own cgroup also bound every run.
func detectCgroups(name string) (*cgroupHost, error) {
	mounts, err := cgroupMounts("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	own, err := ownCgroups("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	if m, ok := mounts[""]; ok && len(mounts) == 1 {
		return &cgroupHost{v2: true, parents: map[string]string{
			"": filepath.Join(m.point, relPath(own[""], m.root), name),
		}}, nil
	}
	h := &cgroupHost{parents: map[string]string{}}
	for _, c := range v1Controllers {
		m, ok := mounts[c]
		if !ok {
			return nil, fmt.Errorf("cgroup v1 controller %q not mounted", c)
		}
		h.parents[c] = filepath.Join(m.point, relPath(own[c], m.root), name)
	}
	return h, nil
}

type cgroupMount struct{ point, root string }

// cgroupMounts maps each v1 controller, or "" for a cgroup2 mount at
// /sys/fs/cgroup, to its mount.
func cgroupMounts(path string) (map[string]cgroupMount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	out := map[string]cgroupMount{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		a, b := strings.Fields(pre), strings.Fields(post)
		if !ok || len(a) < 5 || len(b) < 3 {
			continue
		}
		m := cgroupMount{point: a[4], root: a[3]}
		switch b[0] {
		case "cgroup2":
			if m.point == "/sys/fs/cgroup" {
				out[""] = m
			}
		case "cgroup":
			for _, opt := range strings.Split(b[2], ",") {
				if slices.Contains(v1Controllers, opt) {
					out[opt] = m
				}
			}
		}
	}
	return out, sc.Err()
}

// ownCgroups maps each controller ("" for v2) to this process's cgroup.
func ownCgroups(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}

// relPath returns cgroup path p relative to a mount whose root is root.
func relPath(p, root string) string {
	if root == "/" || root == "" {
		return p
	}
	rel, err := filepath.Rel(root, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "/"
	}
	return rel
}

// create makes the cgroups of run id and writes its limits.
func (h *cgroupHost) create(id string, l cgroupLimits) (*runCgroup, error) {
	rc := &runCgroup{v2: h.v2, dirs: map[string]string{}}
	for c, parent := range h.parents {
		if h.v2 {
			if err := enableV2Controllers(parent); err != nil {
				return nil, err
			}
		}
		dir := filepath.Join(parent, id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			rc.remove()
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
		rc.dirs[c] = dir
	}
	if err := rc.setLimits(l); err != nil {
		rc.remove()
		return nil, err
	}
	return rc, nil
}

func enableV2Controllers(parent string) error {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create cgroup parent: %w", err)
	}
	ctl := filepath.Join(parent, "cgroup.subtree_control")
	return writeFile(ctl, "+memory +pids +cpu")
}

func (rc *runCgroup) setLimits(l cgroupLimits) error {
	quota := strconv.Itoa(int(l.cpus * cpuPeriodMicros))
	if rc.v2 {
		d := rc.dirs[""]
		return firstErr(
			writeFile(filepath.Join(d, "memory.max"), strconv.FormatInt(l.memory, 10)),
			writeFile(filepath.Join(d, "memory.swap.max"), "0"),
			writeFile(filepath.Join(d, "pids.max"), strconv.Itoa(l.pids)),
			writeFile(filepath.Join(d, "cpu.max"), quota+" "+strconv.Itoa(cpuPeriodMicros)),
		)
	}
	mem := rc.dirs["memory"]
	memsw := filepath.Join(mem, "memory.memsw.limit_in_bytes")
	errs := []error{
		writeFile(filepath.Join(mem, "memory.limit_in_bytes"), strconv.FormatInt(l.memory, 10)),
		writeFile(filepath.Join(rc.dirs["pids"], "pids.max"), strconv.Itoa(l.pids)),
		writeFile(filepath.Join(rc.dirs["cpu"], "cpu.cfs_period_us"), strconv.Itoa(cpuPeriodMicros)),
		writeFile(filepath.Join(rc.dirs["cpu"], "cpu.cfs_quota_us"), quota),
	}
	// Swap counts against the memory limit where the kernel accounts it,
	// so a run cannot page its way past the limit.
	if _, err := os.Stat(memsw); err == nil {
		errs = append(errs, writeFile(memsw, strconv.FormatInt(l.memory, 10)))
	}
	return firstErr(errs...)
}

// join moves process pid into every cgroup of the run. The driver calls
// it while the trampoline is blocked before exec'ing bwrap, so nothing
// of the run can start outside the cgroups.
func (rc *runCgroup) join(pid int) error {
	for _, d := range rc.dirs {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	return nil
}

// procsDir is the cgroup whose cgroup.procs lists every process of the run.
func (rc *runCgroup) procsDir() string {
	if rc.v2 {
		return rc.dirs[""]
	}
	return rc.dirs["pids"]
}

// pids lists the processes in the run's cgroup.
func (rc *runCgroup) pids() []int {
	b, err := os.ReadFile(filepath.Join(rc.procsDir(), "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// cpuUsage returns the CPU time used so far by the run.
func (rc *runCgroup) cpuUsage() time.Duration {
	if rc.v2 {
		us := statField(filepath.Join(rc.dirs[""], "cpu.stat"), "usage_usec")
		return time.Duration(us) * time.Microsecond
	}
	return time.Duration(readInt(filepath.Join(rc.dirs["cpuacct"], "cpuacct.usage")))
}

func (rc *runCgroup) stats() cgroupStats {
	s := cgroupStats{cpu: rc.cpuUsage()}
	if rc.v2 {
		d := rc.dirs[""]
		s.peakMemory = readInt(filepath.Join(d, "memory.peak"))
		s.oomKills = statField(filepath.Join(d, "memory.events"), "oom_kill")
		s.pidsMax = statField(filepath.Join(d, "pids.events"), "max")
		return s
	}
	mem := rc.dirs["memory"]
	s.peakMemory = readInt(filepath.Join(mem, "memory.max_usage_in_bytes"))
	s.oomKills = statField(filepath.Join(mem, "memory.oom_control"), "oom_kill")
	s.pidsMax = statField(filepath.Join(rc.dirs["pids"], "pids.events"), "max")
	return s
}

// kill stops every process of the run. Freezing first stops a fork loop
// from racing the kill; the loop ends when the cgroup is empty.
func (rc *runCgroup) kill() error {
	if rc.v2 {
		_ = writeFile(filepath.Join(rc.dirs[""], "cgroup.kill"), "1")
	}
	freezer := rc.dirs["freezer"]
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		pids := rc.pids()
		if len(pids) == 0 {
			return nil
		}
		if freezer != "" {
			_ = writeFile(filepath.Join(freezer, "freezer.state"), "FROZEN")
		}
		for _, p := range rc.pids() {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if freezer != "" {
			_ = writeFile(filepath.Join(freezer, "freezer.state"), "THAWED")
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("kill sandbox processes: %d left after 5s", len(rc.pids()))
}

// remove deletes the run's cgroups; they must be empty.
func (rc *runCgroup) remove() error {
	var errs []error
	for _, d := range rc.dirs {
		var err error
		for range 50 {
			if err = unix.Rmdir(d); err == nil || errors.Is(err, unix.ENOENT) {
				err = nil
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %q: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

func writeFile(path, v string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write cgroup %q: %w", path, err)
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write cgroup %q: %w", path, err)
	}
	return nil
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// statField reads "key value" from a flat-keyed cgroup file.
func statField(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// removeParents deletes the run parents; they must be empty.
func (h *cgroupHost) removeParents() {
	for _, p := range h.parents {
		_ = unix.Rmdir(p)
	}
}
