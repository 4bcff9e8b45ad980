package local

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Residue lists what runs left behind on the host: live processes owned
// by a slot uid and run cgroups that still exist. Between runs it must be
// empty; operators and tests use it to check teardown. Zombies are not
// listed: a sandbox process killed after its bwrap parent is reparented
// to the host's init, which reaps it; it no longer runs or holds memory.
func (d *Driver) Residue() []string {
	var out []string
	statuses, _ := filepath.Glob("/proc/[0-9]*/status")
	for _, p := range statuses {
		if uid, ok := procUID(p); ok && d.isSlotUID(uid) && !zombie(p) {
			out = append(out, fmt.Sprintf("process %s (uid %d)", filepath.Base(filepath.Dir(p)), uid))
		}
	}
	for _, parent := range d.cg.parents {
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if e.IsDir() {
				out = append(out, "cgroup "+filepath.Join(parent, e.Name()))
			}
		}
	}
	return out
}

func (d *Driver) isSlotUID(uid int) bool {
	return uid >= d.opts.BaseUID && uid < d.opts.BaseUID+d.opts.Slots
}

// procUID returns the real uid in a /proc/<pid>/status file.
func procUID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.Atoi(f[0])
				return n, err == nil
			}
		}
	}
	return 0, false
}

// zombie reports whether the /proc/<pid>/status file shows a zombie.
func zombie(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), "\nState:\tZ")
}
