package kubernetes

import (
	"math"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/devmesh/devmesh/sandbox"
)

// Labels and annotations on every object of a run. The keys are what
// operators select runs by: never rename one.
const (
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	LabelComponent  = "app.kubernetes.io/component"
	LabelRun        = "devmesh.dev/run"
	LabelRuntime    = "devmesh.dev/runtime"
	AnnotationJobID = "devmesh.dev/job-id"

	managedBy = "devmesh"
	component = "sandbox-run"
)

// Fixed names inside a run pod.
const (
	runContainer    = "run"
	unpackContainer = "unpack"
	workspaceVolume = "workspace"
	tmpVolume       = "tmp"
	inputVolume     = "input"
	workspaceDir    = "/workspace"
	inputDir        = "/devmesh/input"
	workspaceKey    = "workspace.tar.gz"
)

// SandboxUID is the uid and gid of every process of a run. It is not
// root and owns nothing on the node.
const SandboxUID = 65532

// MaxWorkspaceBytes bounds the compressed workspace the driver delivers
// in a Secret. The API server refuses Secrets over 1 MiB; larger
// workspaces belong in blob storage (see docs/kubernetes.md).
const MaxWorkspaceBytes = 768 * 1024

// scratchOverhead is ephemeral storage beyond the two scratch volumes:
// the container log and the writable layer of a read-only root.
const scratchOverhead = 64 * sandbox.MiB

// wrapper applies the per-process limits Kubernetes has no field for:
// CPU seconds (the kernel sends SIGXCPU) and open files. The command's
// argv follows as "$@" and is never parsed by the shell.
const wrapper = `ulimit -t "$1" && ulimit -n "$2" && shift 2 && exec "$@"`

// run is one job as the driver submits it.
type run struct {
	name string // Job and Secret name
	job  sandbox.Job
	rt   sandbox.Runtime
	// workspace is the compressed tarball, nil for an empty workspace.
	workspace []byte
}

// labels identify every object of the run.
func (d *Driver) labels(r *run) map[string]string {
	return map[string]string{
		LabelManagedBy: managedBy,
		LabelComponent: component,
		LabelRun:       r.name,
		LabelRuntime:   r.rt.Name,
	}
}

func (d *Driver) meta(r *run) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:        r.name,
		Namespace:   d.opts.Namespace,
		Labels:      d.labels(r),
		Annotations: map[string]string{AnnotationJobID: r.job.ID},
	}
}

// secret returns the Secret that carries the workspace to the pod.
func (d *Driver) secret(r *run) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: d.meta(r),
		Type:       corev1.SecretTypeOpaque,
		Immutable:  ptr(true),
		Data:       map[string][]byte{workspaceKey: r.workspace},
	}
}

// batchJob returns the Job of the run.
func (d *Driver) batchJob(r *run) *batchv1.Job {
	deadline := r.job.Limits.WallTime + d.opts.StartGrace
	return &batchv1.Job{
		ObjectMeta: d.meta(r),
		Spec: batchv1.JobSpec{
			// One attempt: a rerun would hide a crash and double the cost.
			BackoffLimit:            ptr(int32(0)),
			Parallelism:             ptr(int32(1)),
			Completions:             ptr(int32(1)),
			ActiveDeadlineSeconds:   ptr(ceilSeconds(deadline)),
			TTLSecondsAfterFinished: ptr(int32(ceilSeconds(d.opts.TTL))),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: d.labels(r)},
				Spec:       d.podSpec(r),
			},
		},
	}
}

// podSpec is the restricted pod of a run. Each field that closes a door
// says which.
func (d *Driver) podSpec(r *run) corev1.PodSpec {
	spec := corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		ServiceAccountName: d.opts.ServiceAccount,
		// No API credentials and no service addresses inside the pod.
		AutomountServiceAccountToken: ptr(false),
		EnableServiceLinks:           ptr(false),
		// The node's network, processes and IPC stay out of reach.
		HostNetwork: false,
		HostPID:     false,
		HostIPC:     false,
		// No DNS: a resolver is an exfiltration channel.
		DNSPolicy: corev1.DNSNone,
		DNSConfig: &corev1.PodDNSConfig{Nameservers: []string{"127.0.0.1"}},
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr(true),
			RunAsUser:      ptr(int64(SandboxUID)),
			RunAsGroup:     ptr(int64(SandboxUID)),
			FSGroup:        ptr(int64(SandboxUID)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationGracePeriodSeconds: ptr(int64(1)),
		NodeSelector:                  d.opts.NodeSelector,
		Tolerations:                   d.opts.Tolerations,
		Containers:                    []corev1.Container{d.runContainer(r)},
		Volumes: []corev1.Volume{
			scratch(workspaceVolume, r.job.Limits.DiskBytes),
			scratch(tmpVolume, r.job.Limits.DiskBytes),
		},
	}
	if d.opts.RuntimeClass != "" {
		spec.RuntimeClassName = ptr(d.opts.RuntimeClass)
	}
	if r.workspace != nil {
		spec.InitContainers = []corev1.Container{d.unpackContainer(r)}
		spec.Volumes = append(spec.Volumes, corev1.Volume{
			Name: inputVolume,
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: r.name, DefaultMode: ptr(int32(0o444)),
			}},
		})
	}
	return spec
}

func (d *Driver) runContainer(r *run) corev1.Container {
	l := r.job.Limits
	args := append([]string{"/bin/sh", "-c", wrapper, "devmesh-run",
		strconv.FormatInt(ceilSeconds(l.CPUTime), 10),
		strconv.Itoa(l.OpenFiles)}, r.job.Command...)
	return corev1.Container{
		Name:            runContainer,
		Image:           d.images[r.rt.Name],
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         args,
		WorkingDir:      workspaceDir,
		Env:             envVars(r.rt.Env),
		Resources:       d.resources(l.MemoryBytes, 2*l.DiskBytes+scratchOverhead),
		SecurityContext: containerSecurity(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: workspaceVolume, MountPath: workspaceDir},
			{Name: tmpVolume, MountPath: "/tmp"},
		},
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

// unpackContainer extracts the workspace inside the sandbox itself, with
// the same restrictions as the command: a hostile archive can only harm
// the run's own scratch volume. GNU tar refuses absolute and ".." names.
func (d *Driver) unpackContainer(r *run) corev1.Container {
	l := r.job.Limits
	return corev1.Container{
		Name:            unpackContainer,
		Image:           d.images[r.rt.Name],
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command: []string{"tar", "-xzf", inputDir + "/" + workspaceKey,
			"-C", workspaceDir, "--no-same-owner", "--no-same-permissions"},
		Resources:       d.resources(min(l.MemoryBytes, 256*sandbox.MiB), l.DiskBytes+scratchOverhead),
		SecurityContext: containerSecurity(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: workspaceVolume, MountPath: workspaceDir},
			{Name: inputVolume, MountPath: inputDir, ReadOnly: true},
		},
	}
}

// containerSecurity is the restricted profile of every container.
func containerSecurity() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr(true),
		RunAsUser:                ptr(int64(SandboxUID)),
		RunAsGroup:               ptr(int64(SandboxUID)),
		Privileged:               ptr(false),
		AllowPrivilegeEscalation: ptr(false),
		ReadOnlyRootFilesystem:   ptr(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// resources sets limits equal to requests: the run gets exactly what the
// scheduler reserved (Guaranteed QoS), never a neighbour's share.
func (d *Driver) resources(memory, storage int64) corev1.ResourceRequirements {
	milliCPU := int64(math.Ceil(d.opts.CPUs * 1000))
	list := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(milliCPU, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(memory, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(storage, resource.BinarySI),
	}
	return corev1.ResourceRequirements{Limits: list, Requests: list.DeepCopy()}
}

// scratch is a node-disk volume the kubelet evicts the pod for filling
// past size.
func scratch(name string, size int64) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: resource.NewQuantity(size, resource.BinarySI)},
	}}
}

func envVars(env []string) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(env))
	seen := map[string]int{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		// A later entry overrides an earlier one, as in exec.
		if i, ok := seen[k]; ok {
			out[i].Value = v
			continue
		}
		seen[k] = len(out)
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	return out
}

func ceilSeconds[D ~int64](d D) int64 {
	s := int64(d) / int64(1e9)
	if int64(d)%int64(1e9) != 0 {
		s++
	}
	return s
}

func ptr[T any](v T) *T { return &v }
