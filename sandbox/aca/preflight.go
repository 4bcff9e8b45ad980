package aca

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
)

// preflightTTL is how long a passing preflight is trusted. An operator
// who weakens the job (adds an identity, shortens the timeout) is
// caught by the next check, at most this long later.
const preflightTTL = 10 * time.Minute

// preflightState caches the last passing preflight.
type preflightState struct {
	mu     sync.Mutex // serializes preflights and guards passed
	passed time.Time  // zero unless the last preflight passed
}

// Probe names. They appear in `devmesh sandbox check` output.
const (
	probeJob       = "job readable"
	probeTrigger   = "manual trigger"
	probeReplicas  = "one replica, no retry"
	probeTimeout   = "replica timeout covers wall limit"
	probeIdentity  = "no managed identity"
	probeSecrets   = "no secrets or template env"
	probeVolume    = "workspace volume"
	probeInternal  = "internal environment"
	notCheckedNote = "not checked: the job could not be read"
)

// Preflight reads the job and its environment and checks that they
// isolate runs as docs/azure.md requires. It cannot see egress rules
// of the environment's subnet; see the internal environment probe.
func (d *Driver) Preflight(ctx context.Context) ([]sandbox.ProbeResult, error) {
	got, err := d.jobs.Get(ctx, d.opts.ResourceGroup, d.opts.JobName, nil)
	if err != nil {
		res := []sandbox.ProbeResult{{Name: probeJob, Detail: err.Error()}}
		for _, n := range []string{probeTrigger, probeReplicas, probeTimeout,
			probeIdentity, probeSecrets, probeVolume, probeInternal} {
			res = append(res, sandbox.ProbeResult{Name: n, Detail: notCheckedNote})
		}
		return res, fmt.Errorf("read job %q: %w", d.opts.JobName, err)
	}
	job := got.Job
	res := []sandbox.ProbeResult{
		{Name: probeJob, OK: true, Detail: "job " + d.opts.JobName},
		checkTrigger(job),
		checkReplicas(job),
		checkTimeout(job, d.opts.MaxWallTime),
		checkIdentity(job),
		checkSecrets(job),
		checkVolume(job, d.opts.MainContainer, d.opts.InitContainer),
		d.checkEnvironment(ctx, job),
	}
	var failed []string
	for _, r := range res {
		if !r.OK {
			failed = append(failed, r.Name)
		}
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("azure container apps preflight failed: %s",
			strings.Join(failed, ", "))
	}
	return res, nil
}

// ensurePreflight runs Preflight unless one passed recently; Run
// refuses to start anything while it fails.
func (d *Driver) ensurePreflight(ctx context.Context) error {
	d.pre.mu.Lock()
	defer d.pre.mu.Unlock()
	if !d.pre.passed.IsZero() && d.opts.Now().Sub(d.pre.passed) < preflightTTL {
		return nil
	}
	d.pre.passed = time.Time{}
	if _, err := d.Preflight(ctx); err != nil {
		return errs.Wrap(errs.Unavailable, err, "sandbox preflight failed")
	}
	d.pre.passed = d.opts.Now()
	return nil
}

func probe(name string, ok bool, format string, args ...any) sandbox.ProbeResult {
	return sandbox.ProbeResult{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)}
}

func config(job armappcontainers.Job) armappcontainers.JobConfiguration {
	if job.Properties == nil || job.Properties.Configuration == nil {
		return armappcontainers.JobConfiguration{}
	}
	return *job.Properties.Configuration
}

func jobTemplate(job armappcontainers.Job) armappcontainers.JobTemplate {
	if job.Properties == nil || job.Properties.Template == nil {
		return armappcontainers.JobTemplate{}
	}
	return *job.Properties.Template
}

func str[T ~string](p *T) string {
	if p == nil {
		return "unset"
	}
	return string(*p)
}

func num(p *int32) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// checkTrigger: an event or schedule trigger would start executions
// that nobody asked for, with the job's own template.
func checkTrigger(job armappcontainers.Job) sandbox.ProbeResult {
	t := config(job).TriggerType
	ok := t != nil && *t == armappcontainers.TriggerTypeManual
	return probe(probeTrigger, ok, "trigger type %s, want Manual", str(t))
}

// checkReplicas: a retried replica would run candidate code a second
// time on a workspace URL that may have expired, and parallel replicas
// would run it several times at once.
func checkReplicas(job armappcontainers.Job) sandbox.ProbeResult {
	c := config(job)
	var par, comp *int32
	if m := c.ManualTriggerConfig; m != nil {
		par, comp = m.Parallelism, m.ReplicaCompletionCount
	}
	one := func(p *int32) bool { return p == nil || *p == 1 }
	ok := one(par) && one(comp) && c.ReplicaRetryLimit != nil && *c.ReplicaRetryLimit == 0
	return probe(probeReplicas, ok,
		"parallelism %s, completion count %s, retry limit %s; want 1, 1, 0",
		num(par), num(comp), num(c.ReplicaRetryLimit))
}

// checkTimeout: the replica timeout is Azure's own backstop for an
// execution the driver failed to stop; it must not cut a legal run.
func checkTimeout(job armappcontainers.Job, maxWall time.Duration) sandbox.ProbeResult {
	rt := config(job).ReplicaTimeout
	want := int32((maxWall + time.Second - 1) / time.Second)
	ok := rt != nil && *rt >= want
	return probe(probeTimeout, ok, "replica timeout %ss, want at least %ds",
		num(rt), want)
}

// checkIdentity: every container of a replica can ask the identity
// endpoint for tokens of the job's managed identity, so candidate
// code would act with its roles (read other workspaces, for one).
func checkIdentity(job armappcontainers.Job) sandbox.ProbeResult {
	id := job.Identity
	ok := id == nil || id.Type == nil ||
		*id.Type == armappcontainers.ManagedServiceIdentityTypeNone
	t := "none"
	if id != nil && id.Type != nil {
		t = string(*id.Type)
	}
	return probe(probeIdentity, ok, "identity type %s, want None", t)
}

// checkSecrets: the override sets the environment explicitly, but in
// case Azure merges it with the job's template, that template must
// hold no env of its own, and the job no secret it could reference.
// Registry credentials are allowed: the platform uses them to pull.
func checkSecrets(job armappcontainers.Job) sandbox.ProbeResult {
	var used []string
	regs := map[string]bool{}
	for _, r := range config(job).Registries {
		if r != nil && r.PasswordSecretRef != nil {
			regs[*r.PasswordSecretRef] = true
		}
	}
	for _, s := range config(job).Secrets {
		if s != nil && s.Name != nil && !regs[*s.Name] {
			used = append(used, "secret "+*s.Name)
		}
	}
	t := jobTemplate(job)
	for _, c := range t.Containers {
		if c != nil && len(c.Env) > 0 {
			used = append(used, "env of container "+str(c.Name))
		}
	}
	for _, c := range t.InitContainers {
		if c != nil && len(c.Env) > 0 {
			used = append(used, "env of init container "+str(c.Name))
		}
	}
	if len(used) > 0 {
		return probe(probeSecrets, false, "job defines %s", strings.Join(used, ", "))
	}
	return probe(probeSecrets, true, "only registry secrets, no template env")
}

// checkVolume: the init container and the main container must share an
// EmptyDir volume at the workspace path, or the command runs without
// its files (or, with a storage volume, on files other runs can see).
func checkVolume(job armappcontainers.Job, main, init string) sandbox.ProbeResult {
	t := jobTemplate(job)
	empty := map[string]bool{}
	for _, v := range t.Volumes {
		if v != nil && v.Name != nil && v.StorageType != nil &&
			*v.StorageType == armappcontainers.StorageTypeEmptyDir {
			empty[*v.Name] = true
		}
	}
	mounted := func(ms []*armappcontainers.VolumeMount) bool {
		for _, m := range ms {
			if m != nil && m.VolumeName != nil && empty[*m.VolumeName] &&
				m.MountPath != nil && *m.MountPath == workspaceDir &&
				(m.SubPath == nil || *m.SubPath == "") {
				return true
			}
		}
		return false
	}
	var problems []error
	if !hasContainer(t.Containers, main, mounted) || len(t.Containers) != 1 {
		problems = append(problems, fmt.Errorf(
			"want exactly one container %q mounting an EmptyDir volume at %s", main, workspaceDir))
	}
	if !hasInit(t.InitContainers, init, mounted) || len(t.InitContainers) != 1 {
		problems = append(problems, fmt.Errorf(
			"want exactly one init container %q mounting it at %s", init, workspaceDir))
	}
	if err := errors.Join(problems...); err != nil {
		return probe(probeVolume, false, "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return probe(probeVolume, true, "%s and %s share an EmptyDir at %s", init, main, workspaceDir)
}

func hasContainer(cs []*armappcontainers.Container, name string,
	mounted func([]*armappcontainers.VolumeMount) bool) bool {
	for _, c := range cs {
		if c != nil && c.Name != nil && *c.Name == name && mounted(c.VolumeMounts) {
			return true
		}
	}
	return false
}

func hasInit(cs []*armappcontainers.InitContainer, name string,
	mounted func([]*armappcontainers.VolumeMount) bool) bool {
	for _, c := range cs {
		if c != nil && c.Name != nil && *c.Name == name && mounted(c.VolumeMounts) {
			return true
		}
	}
	return false
}

// checkEnvironment requires an internal environment on its own subnet:
// no public endpoint, and a subnet whose network security group or
// route table can deny egress. Azure's API does not report those
// egress rules, so this probe cannot prove there is no network; the
// operator's setup in docs/azure.md must.
func (d *Driver) checkEnvironment(ctx context.Context, job armappcontainers.Job) sandbox.ProbeResult {
	id := ""
	if job.Properties != nil && job.Properties.EnvironmentID != nil {
		id = *job.Properties.EnvironmentID
	}
	rid, err := arm.ParseResourceID(id)
	if err != nil {
		return probe(probeInternal, false, "job names no valid environment id %q", id)
	}
	env, err := d.envs.Get(ctx, rid.ResourceGroupName, rid.Name, nil)
	if err != nil {
		return probe(probeInternal, false, "read environment %q: %v", rid.Name, err)
	}
	var vnet armappcontainers.VnetConfiguration
	if env.Properties != nil && env.Properties.VnetConfiguration != nil {
		vnet = *env.Properties.VnetConfiguration
	}
	internal := vnet.Internal != nil && *vnet.Internal
	subnet := vnet.InfrastructureSubnetID != nil && *vnet.InfrastructureSubnetID != ""
	return probe(probeInternal, internal && subnet,
		"environment %s: internal %t, own subnet %t; want both (egress rules are "+
			"not visible to this check)", rid.Name, internal, subnet)
}
