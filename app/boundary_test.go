package app

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServerLinksNoSandboxDriver keeps the boundary that the API server
// never links code that executes candidate programs: the packages behind
// serve know only the sandbox.Driver interface.
func TestServerLinksNoSandboxDriver(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/devmesh/devmesh/app").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !strings.Contains(string(out), "github.com/devmesh/devmesh/sandbox\n") {
		t.Fatalf("go list returned %d packages without the sandbox interface: the check would prove nothing", len(deps))
	}
	for _, d := range deps {
		for _, driver := range []string{"/sandbox/local", "/sandbox/kubernetes", "/sandbox/aca"} {
			if strings.HasSuffix(d, driver) {
				t.Errorf("app links the sandbox driver %s", d)
			}
		}
	}
}
