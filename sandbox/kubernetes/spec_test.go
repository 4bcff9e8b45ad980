package kubernetes

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
)

func mustDriver(t testing.TB, opts Options) *Driver {
	t.Helper()
	if opts.Client == nil {
		opts.Client = fake.NewClientset()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testRun(t testing.TB, workspace []byte) *run {
	t.Helper()
	rt, err := sandbox.LookupRuntime("python")
	if err != nil {
		t.Fatal(err)
	}
	job := sandbox.Job{ID: "Run_42", Runtime: "python",
		Command: []string{"python3", "-c", "print('hi'); import os"},
		Limits:  sandbox.DefaultLimits()}
	return &run{name: newRunName(), job: job, rt: rt, workspace: workspace}
}

func TestPodSpecClosesEachDoor(t *testing.T) {
	d := mustDriver(t, Options{RuntimeClass: "gvisor"})
	spec := d.podSpec(testRun(t, []byte("tarball")))
	psc := spec.SecurityContext
	checks := []struct {
		name string
		ok   bool
	}{
		{"no service account token", spec.AutomountServiceAccountToken != nil && !*spec.AutomountServiceAccountToken},
		{"no service links", spec.EnableServiceLinks != nil && !*spec.EnableServiceLinks},
		{"no host namespaces", !spec.HostNetwork && !spec.HostPID && !spec.HostIPC},
		{"never restarts", spec.RestartPolicy == corev1.RestartPolicyNever},
		{"pod runs as non-root", psc.RunAsNonRoot != nil && *psc.RunAsNonRoot},
		{"pod uid fixed and not root", psc.RunAsUser != nil && *psc.RunAsUser == SandboxUID},
		{"pod seccomp RuntimeDefault", psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"runtime class set", spec.RuntimeClassName != nil && *spec.RuntimeClassName == "gvisor"},
		{"no cluster DNS", spec.DNSPolicy == corev1.DNSNone},
		{"unpack runs first", len(spec.InitContainers) == 1},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("pod spec: %s: not so", c.name)
		}
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: privilege escalation not disabled", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: root file system writable", c.Name)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("container %s: capabilities %+v, want drop ALL", c.Name, sc.Capabilities)
		}
		if sc.Privileged == nil || *sc.Privileged {
			t.Errorf("container %s: privileged", c.Name)
		}
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
			lim, req := c.Resources.Limits[name], c.Resources.Requests[name]
			if lim.IsZero() || lim.Cmp(req) != 0 {
				t.Errorf("container %s: %s limit %v, request %v; want equal and set", c.Name, name, &lim, &req)
			}
		}
	}
}

func TestPodSpecCarriesLimits(t *testing.T) {
	d := mustDriver(t, Options{CPUs: 1.5, StartGrace: time.Minute})
	r := testRun(t, nil)
	r.job.Limits.MemoryBytes = 300 * sandbox.MiB
	r.job.Limits.DiskBytes = 50 * sandbox.MiB
	r.job.Limits.WallTime = 2500 * time.Millisecond
	r.job.Limits.CPUTime = 2 * time.Second
	r.job.Limits.OpenFiles = 99
	job := d.batchJob(r)
	c := job.Spec.Template.Spec.Containers[0]

	if got := c.Resources.Limits.Memory().Value(); got != 300*sandbox.MiB {
		t.Errorf("memory limit %d, want %d", got, 300*sandbox.MiB)
	}
	if got := c.Resources.Limits.Cpu().MilliValue(); got != 1500 {
		t.Errorf("cpu limit %dm, want 1500m", got)
	}
	if got := *job.Spec.ActiveDeadlineSeconds; got != 63 {
		t.Errorf("active deadline %ds, want 63 (3s wall + 60s grace)", got)
	}
	if got := *job.Spec.BackoffLimit; got != 0 {
		t.Errorf("backoff limit %d, want 0", got)
	}
	for _, v := range job.Spec.Template.Spec.Volumes {
		if v.EmptyDir == nil || v.EmptyDir.SizeLimit.Value() != 50*sandbox.MiB {
			t.Errorf("volume %s: want emptyDir of 50Mi, got %+v", v.Name, v.VolumeSource)
		}
	}
	if len(job.Spec.Template.Spec.InitContainers) != 0 {
		t.Errorf("empty workspace: got an unpack container")
	}
	wantArgs := []string{"/bin/sh", "-c", wrapper, "devmesh-run", "2", "99",
		"python3", "-c", "print('hi'); import os"}
	if !slices.Equal(c.Command, wantArgs) {
		t.Errorf("command %q, want %q", c.Command, wantArgs)
	}
	if job.Annotations[AnnotationJobID] != "Run_42" || job.Labels[LabelRun] != r.name {
		t.Errorf("job labels %v annotations %v do not identify the run", job.Labels, job.Annotations)
	}
}

func TestEnvVarsLaterEntryWins(t *testing.T) {
	got := envVars([]string{"PATH=/a", "X=1", "PATH=/b"})
	want := []corev1.EnvVar{{Name: "PATH", Value: "/b"}, {Name: "X", Value: "1"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestReadWorkspaceRefusesOversize(t *testing.T) {
	_, err := readWorkspace(bytes.NewReader(make([]byte, MaxWorkspaceBytes+1)))
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.TooLarge {
		t.Fatalf("got %v, want a TooLarge error", err)
	}
	b, err := readWorkspace(bytes.NewReader(make([]byte, MaxWorkspaceBytes)))
	if err != nil || len(b) != MaxWorkspaceBytes {
		t.Fatalf("workspace at the limit: got %d bytes, %v", len(b), err)
	}
}

func TestRunNamesAreDNSLabels(t *testing.T) {
	a, b := newRunName(), newRunName()
	if a == b || len(a) > 63 || strings.ToLower(a) != a {
		t.Errorf("run names %q, %q: want distinct lowercase DNS labels", a, b)
	}
}

func TestNewRequiresClientAndLogger(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := New(Options{Logger: log}); err == nil {
		t.Error("no client: got nil error")
	}
	if _, err := New(Options{Client: fake.NewClientset()}); err == nil {
		t.Error("no logger: got nil error")
	}
}

func TestImagesMustBePinnedByDigest(t *testing.T) {
	digest := strings.Repeat("ab", 32)
	tests := []struct {
		name   string
		images map[string]string
		ok     bool
	}{
		{"defaults", nil, true},
		{"pinned mirror", map[string]string{"python": "registry.example/python@sha256:" + digest}, true},
		{"tag only", map[string]string{"python": "python:3.11-slim"}, false},
		{"tag and short digest", map[string]string{"go": "golang:1.26@sha256:abc"}, false},
		{"uppercase digest", map[string]string{"node": "node@sha256:" + strings.ToUpper(digest)}, false},
		{"unknown runtime", map[string]string{"cobol": "cobol@sha256:" + digest}, false},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		d, err := New(Options{Client: fake.NewClientset(), Logger: log, Images: tt.images})
		if (err == nil) != tt.ok {
			t.Errorf("%s: got error %v, want ok=%v", tt.name, err, tt.ok)
			continue
		}
		if err != nil {
			continue
		}
		for name, img := range tt.images {
			r := testRun(t, nil)
			r.rt, _ = sandbox.LookupRuntime(name)
			if got := d.podSpec(r).Containers[0].Image; got != img {
				t.Errorf("%s: runtime %s runs %q, want %q", tt.name, name, got, img)
			}
		}
	}
}
