package aca

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/sandbox"
)

// Paths shared by the init and main containers. The job's template
// mounts its EmptyDir volume at workspaceDir in both.
const (
	workspaceDir = "/workspace"
	// workspaceURLVar carries the staged archive's read-only URL. It
	// is set on the init container only: the candidate's command runs
	// in the main container and never sees it.
	workspaceURLVar = "DEVMESH_WORKSPACE_URL"
)

// fetchScript downloads the archive and unpacks it into the shared
// volume. The archive was built by the server and is unpacked inside
// the sandbox replica, so a hostile name can only affect the replica.
const fetchScript = `set -eu
wget -q -O /tmp/ws.tar.gz "$` + workspaceURLVar + `"
if [ -s /tmp/ws.tar.gz ]; then tar -xzf /tmp/ws.tar.gz -C ` + workspaceDir + `; fi
rm -f /tmp/ws.tar.gz`

// runScript enters the workspace and replaces itself with the job's
// argv, passed as positional parameters so that no argument is ever
// parsed by the shell. Container Apps has no working-directory field.
const runScript = `cd ` + workspaceDir + ` && exec "$@"`

var digestRef = regexp.MustCompile(`^[^@\s]+@sha256:[0-9a-f]{64}$`)

// pinned reports whether image names its content by digest, so that a
// re-pushed tag cannot change what candidate code runs on.
func pinned(image string) bool { return digestRef.MatchString(image) }

// resources maps a memory limit onto the consumption profile's fixed
// pairs: 0.25 CPU per 0.5 GiB, from 0.25/0.5Gi up to 4/8Gi. The
// smallest pair holding the limit is chosen.
func resources(memory int64) (cpu float64, mem string, err error) {
	const step, largest = sandbox.GiB / 2, 8 * sandbox.GiB
	if memory > largest {
		return 0, "", errs.E(errs.Invalid,
			"invalid memory limit %q: azure container apps allows at most 8G",
			sandbox.FormatBytes(memory))
	}
	n := max((memory+step-1)/step, 1)
	cpu = float64(n) / 4
	gi := strconv.FormatFloat(float64(n)/2, 'f', -1, 64)
	return cpu, gi + "Gi", nil
}

// template builds the per-run override of the job's template.
func (d *Driver) template(job sandbox.Job, rt sandbox.Runtime, url secret.String) (
	*armappcontainers.JobExecutionTemplate, error) {
	image := rt.Image
	if img, ok := d.opts.Images[rt.Name]; ok {
		image = img
	}
	if !pinned(image) {
		return nil, fmt.Errorf("runtime %q image %q is not pinned by digest", rt.Name, image)
	}
	cpu, mem, err := resources(job.Limits.MemoryBytes)
	if err != nil {
		return nil, err
	}
	res := &armappcontainers.ContainerResources{CPU: to.Ptr(cpu), Memory: to.Ptr(mem)}
	env, err := envVars(rt.Env)
	if err != nil {
		return nil, err
	}
	main := &armappcontainers.JobExecutionContainer{
		Name:      to.Ptr(d.opts.MainContainer),
		Image:     to.Ptr(image),
		Command:   to.SliceOfPtrs("/bin/sh", "-c", runScript, "devmesh-run"),
		Args:      to.SliceOfPtrs(job.Command...),
		Env:       env,
		Resources: res,
	}
	fetch := &armappcontainers.JobExecutionContainer{
		Name:    to.Ptr(d.opts.InitContainer),
		Image:   to.Ptr(d.opts.FetchImage),
		Command: to.SliceOfPtrs("/bin/sh", "-c", fetchScript),
		Env: []*armappcontainers.EnvironmentVar{{
			Name: to.Ptr(workspaceURLVar), Value: to.Ptr(url.Reveal()),
		}},
		Resources: res,
	}
	return &armappcontainers.JobExecutionTemplate{
		Containers:     []*armappcontainers.JobExecutionContainer{main},
		InitContainers: []*armappcontainers.JobExecutionContainer{fetch},
	}, nil
}

// envVars turns KEY=VALUE pairs into the explicit list the main
// container gets; nothing of the runner's environment is added.
func envVars(kv []string) ([]*armappcontainers.EnvironmentVar, error) {
	out := make([]*armappcontainers.EnvironmentVar, 0, len(kv))
	seen := map[string]int{}
	for _, s := range kv {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid runtime environment entry %q: want KEY=VALUE", s)
		}
		// A later entry overrides an earlier one, as in a process
		// environment; the runtimes rely on that for PATH.
		if i, dup := seen[k]; dup {
			out[i].Value = to.Ptr(v)
			continue
		}
		seen[k] = len(out)
		out = append(out, &armappcontainers.EnvironmentVar{Name: to.Ptr(k), Value: to.Ptr(v)})
	}
	return out, nil
}
