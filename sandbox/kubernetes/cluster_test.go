package kubernetes

// Tests in this file run against the real kube-apiserver, etcd,
// kube-controller-manager and kube-scheduler that scripts/lib/kube.sh
// starts: validation, pod security admission, RBAC, the job controller,
// the garbage collector and scheduling are the real ones. The node is
// kwok's simulation: no kubelet runs and no container starts; kwok marks
// each pod running, then complete with exit status 0, and serves one
// fixed file as every container's log.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/devmesh/devmesh/sandbox"
	"github.com/devmesh/devmesh/sandbox/kubernetes/kubetest"
)

var dryRun = metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}

// mustApply creates objs, first with dryRun=All and then for real.
// Cluster-scoped objects another test created already are accepted.
func mustApply(t testing.TB, c kubernetes.Interface, objs []runtime.Object) {
	t.Helper()
	for _, o := range objs {
		for _, opts := range []metav1.CreateOptions{dryRun, {}} {
			err := create(t.Context(), c, o, opts)
			if apierrors.IsAlreadyExists(err) {
				if _, ok := o.(*nodev1.RuntimeClass); ok {
					continue
				}
			}
			if err != nil {
				t.Fatalf("create %T (dryRun=%v): %v", o, opts.DryRun, err)
			}
		}
	}
}

func create(ctx context.Context, c kubernetes.Interface, o runtime.Object, opts metav1.CreateOptions) error {
	var err error
	switch o := o.(type) {
	case *corev1.Namespace:
		_, err = c.CoreV1().Namespaces().Create(ctx, o, opts)
	case *networkingv1.NetworkPolicy:
		_, err = c.NetworkingV1().NetworkPolicies(o.Namespace).Create(ctx, o, opts)
	case *corev1.ServiceAccount:
		_, err = c.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, opts)
	case *rbacv1.Role:
		_, err = c.RbacV1().Roles(o.Namespace).Create(ctx, o, opts)
	case *rbacv1.RoleBinding:
		_, err = c.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, opts)
	case *rbacv1.ClusterRole:
		_, err = c.RbacV1().ClusterRoles().Create(ctx, o, opts)
	case *rbacv1.ClusterRoleBinding:
		_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, o, opts)
	case *nodev1.RuntimeClass:
		_, err = c.NodeV1().RuntimeClasses().Create(ctx, o, opts)
	case *corev1.Secret:
		_, err = c.CoreV1().Secrets(o.Namespace).Create(ctx, o, opts)
	case *batchv1.Job:
		_, err = c.BatchV1().Jobs(o.Namespace).Create(ctx, o, opts)
	case *corev1.Pod:
		_, err = c.CoreV1().Pods(o.Namespace).Create(ctx, o, opts)
	default:
		err = fmt.Errorf("no client for %T", o)
	}
	return err
}

// sandboxCluster applies the manifests for a fresh sandbox namespace and
// returns the admin client, the namespace and a client acting as the
// runner's service account.
func sandboxCluster(t testing.TB, runtimeClass string) (admin kubernetes.Interface, ns string, runner kubernetes.Interface) {
	t.Helper()
	admin = kubetest.Client(t)
	ns = kubetest.UniqueName("sandbox-")
	opts := ManifestOptions{Namespace: ns, RunnerNamespace: "runner-" + ns, RuntimeClass: runtimeClass}
	mustApply(t, admin, Manifests(opts))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		admin.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		name := "devmesh-sandbox-driver-" + ns
		admin.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		admin.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
	})
	runner = kubetest.Impersonate(t, opts.RunnerNamespace, "devmesh-runner")
	return admin, ns, runner
}

func clusterDriver(t testing.TB, c kubernetes.Interface, ns, runtimeClass string) *Driver {
	t.Helper()
	return mustDriver(t, Options{Client: c, Namespace: ns, RuntimeClass: runtimeClass,
		PollInterval: 50 * time.Millisecond, StartGrace: 30 * time.Second})
}

func TestClusterDriverObjectsPassValidationAndPodSecurity(t *testing.T) {
	admin, ns, _ := sandboxCluster(t, "gvisor")
	for name := range sandbox.Runtimes {
		for _, rc := range []string{"", "gvisor"} {
			for _, ws := range [][]byte{nil, mustTarball(t)} {
				d := clusterDriver(t, admin, ns, rc)
				rt, _ := sandbox.LookupRuntime(name)
				r := &run{name: newRunName(), rt: rt, workspace: ws, job: sandbox.Job{
					ID: "validate", Runtime: name, Command: []string{"echo", "a b", "$HOME"},
					Limits: sandbox.DefaultLimits()}}
				objs := []runtime.Object{d.batchJob(r)}
				if ws != nil {
					objs = append(objs, d.secret(r))
				}
				// Pod security admission judges pods, not Jobs: submit
				// the Job's pod template as a pod, dry-run only.
				pod := &corev1.Pod{ObjectMeta: d.meta(r), Spec: d.podSpec(r)}
				if err := create(t.Context(), admin, pod, dryRun); err != nil {
					t.Errorf("%s rc=%q workspace=%v: pod refused: %v", name, rc, ws != nil, err)
				}
				mustApply(t, admin, objs)
				d.cleanup(r)
			}
		}
	}
}

// The pod security check above would pass vacuously if the namespace
// did not enforce: a pod allowed to escalate privileges must be refused.
func TestClusterPodSecurityRefusesAWeakenedPod(t *testing.T) {
	admin, ns, _ := sandboxCluster(t, "")
	d := clusterDriver(t, admin, ns, "")
	rt, _ := sandbox.LookupRuntime("python")
	r := &run{name: newRunName(), rt: rt, job: sandbox.Job{ID: "weak", Runtime: "python",
		Command: []string{"true"}, Limits: sandbox.DefaultLimits()}}
	tests := []struct {
		name   string
		weaken func(*corev1.PodSpec)
	}{
		{"privilege escalation", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr(true)
		}},
		{"capabilities kept", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Capabilities = nil }},
		{"root allowed", func(s *corev1.PodSpec) {
			s.SecurityContext.RunAsNonRoot, s.SecurityContext.RunAsUser = nil, nil
			s.Containers[0].SecurityContext.RunAsNonRoot, s.Containers[0].SecurityContext.RunAsUser = nil, nil
		}},
		{"host network", func(s *corev1.PodSpec) { s.HostNetwork = true }},
	}
	for _, tt := range tests {
		spec := d.podSpec(r)
		tt.weaken(&spec)
		pod := &corev1.Pod{ObjectMeta: d.meta(r), Spec: spec}
		err := create(t.Context(), admin, pod, dryRun)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") {
			t.Errorf("%s: got %v, want refusal by restricted pod security", tt.name, err)
		}
	}
}

func TestClusterPreflightAsRunner(t *testing.T) {
	admin, ns, runner := sandboxCluster(t, "gvisor")
	d := clusterDriver(t, runner, ns, "gvisor")
	probes, err := d.Preflight(t.Context())
	if err != nil {
		t.Fatalf("preflight: %v (%+v)", err, probes)
	}

	err = admin.NetworkingV1().NetworkPolicies(ns).Delete(t.Context(), DenyAllPolicyName, metav1.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	probes, err = d.Preflight(t.Context())
	if err == nil {
		t.Fatal("preflight passed without the deny-all network policy")
	}
	for _, p := range probes {
		if p.Name == "network-policy" && p.OK {
			t.Errorf("network-policy probe passed: %s", p.Detail)
		}
	}
}

func TestClusterPreflightFailsForAStranger(t *testing.T) {
	_, ns, _ := sandboxCluster(t, "")
	stranger := kubetest.Impersonate(t, "elsewhere", "devmesh-runner")
	d := clusterDriver(t, stranger, ns, "")
	probes, err := d.Preflight(t.Context())
	if err == nil {
		t.Fatalf("preflight passed for an identity without the role: %+v", probes)
	}
}

// The runner's role is least privilege: it cannot read Secrets, create
// pods of its own, or touch another namespace.
func TestClusterRunnerRoleRefusesTheRest(t *testing.T) {
	_, ns, runner := sandboxCluster(t, "")
	ctx := t.Context()
	attempts := []struct {
		name string
		call func() error
	}{
		{"read a secret", func() error {
			_, err := runner.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			return err
		}},
		{"create a pod", func() error {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}
			_, err := runner.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
			return err
		}},
		{"create a job elsewhere", func() error {
			_, err := runner.BatchV1().Jobs("default").Create(ctx, &batchv1.Job{}, metav1.CreateOptions{})
			return err
		}},
		{"delete the network policy", func() error {
			return runner.NetworkingV1().NetworkPolicies(ns).Delete(ctx, DenyAllPolicyName, metav1.DeleteOptions{})
		}},
		{"exec into a pod", func() error {
			return runner.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").
				Name("x").SubResource("exec").Do(ctx).Error()
		}},
	}
	for _, a := range attempts {
		if err := a.call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: got %v, want forbidden", a.name, err)
		}
	}
}

func TestClusterRunCompletesOnSimulatedNode(t *testing.T) {
	admin, ns, runner := sandboxCluster(t, "")
	d := clusterDriver(t, runner, ns, "")
	job := sandbox.Job{ID: "sim-1", Runtime: "python", Command: []string{"python3", "main.py"},
		Workspace: bytes.NewReader(mustTarball(t)), Limits: sandbox.DefaultLimits()}
	var sunk bytes.Buffer
	job.Output = func(_ sandbox.Stream, p []byte) { sunk.Write(p) }
	admitted := watchFirstPod(t, admin, ns)

	res, err := d.Run(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	checkAdmittedPod(t, <-admitted)
	// kwok completes the pod with status 0 and serves a fixed log: this
	// proves the path through the API server, not a program's output.
	if res.Outcome != sandbox.OK || res.ExitCode != 0 {
		t.Fatalf("got %s exit %d (%s), want ok exit 0", res.Outcome, res.ExitCode, res.Detail)
	}
	if !strings.Contains(string(res.Stdout), "simulated log served by kwok") || sunk.String() != string(res.Stdout) {
		t.Errorf("stdout %q, sink %q: want kwok's simulated log in both", res.Stdout, sunk.String())
	}
	mustBeGone(t, admin, ns)
}

// A pod that never starts is the sandbox's failure, not the candidate's
// time limit: the job controller's deadline ends it.
func TestClusterUnschedulableRunIsSandboxError(t *testing.T) {
	_, ns, runner := sandboxCluster(t, "")
	d := mustDriver(t, Options{Client: runner, Namespace: ns, PollInterval: 50 * time.Millisecond,
		StartGrace: time.Nanosecond, NodeSelector: map[string]string{"devmesh.dev/no-such-node": "x"}})
	l := sandbox.DefaultLimits()
	l.WallTime = time.Second
	res, err := d.Run(t.Context(), sandbox.Job{ID: "unsched", Runtime: "go",
		Command: []string{"true"}, Limits: l})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sandbox.SandboxError || !strings.Contains(res.Detail, "DeadlineExceeded") {
		t.Fatalf("got %s (%s), want sandbox_error after the job deadline", res.Outcome, res.Detail)
	}
}

// mustBeGone waits, bounded, for the run's Job, pods and Secrets to be
// deleted by the driver and the garbage collector.
func mustBeGone(t *testing.T, c kubernetes.Interface, ns string) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + managedBy + "," + LabelComponent + "=" + component}
	var left []string
	for range 100 {
		left = left[:0]
		jobs, err1 := c.BatchV1().Jobs(ns).List(t.Context(), sel)
		pods, err2 := c.CoreV1().Pods(ns).List(t.Context(), sel)
		secrets, err3 := c.CoreV1().Secrets(ns).List(t.Context(), sel)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs.Items {
			left = append(left, "job/"+j.Name)
		}
		for _, p := range pods.Items {
			left = append(left, "pod/"+p.Name)
		}
		for _, s := range secrets.Items {
			left = append(left, "secret/"+s.Name)
		}
		if len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("left behind after the run: %v", left)
}

func mustTarball(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("print('hello')\n")
	hdr := &tar.Header{Name: "main.py", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// watchFirstPod reports the first pod that appears in ns, as the API
// server stored it after admission and as the scheduler bound it.
func watchFirstPod(t *testing.T, c kubernetes.Interface, ns string) <-chan *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	out := make(chan *corev1.Pod, 1)
	go func() {
		defer cancel()
		defer w.Stop()
		var last *corev1.Pod
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok {
				last = p
				if p.Spec.NodeName != "" {
					break
				}
			}
		}
		out <- last
	}()
	return out
}

// checkAdmittedPod verifies what admission did not add: no service
// account token volume, no service links, the restricted context kept.
func checkAdmittedPod(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if pod == nil {
		t.Fatal("no pod of the run was seen")
	}
	if pod.Spec.NodeName != "kwok-node-0" {
		t.Errorf("pod bound to %q, want the kwok node", pod.Spec.NodeName)
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected != nil {
			t.Errorf("admission added projected volume %q (a service account token)", v.Name)
		}
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		for _, m := range c.VolumeMounts {
			if strings.Contains(m.MountPath, "serviceaccount") {
				t.Errorf("container %s mounts %s", c.Name, m.MountPath)
			}
		}
		for _, e := range c.Env {
			if strings.HasSuffix(e.Name, "_SERVICE_HOST") {
				t.Errorf("container %s has service link %s", c.Name, e.Name)
			}
		}
	}
	if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != SandboxUID {
		t.Errorf("pod security context %+v, want uid %d", sc, SandboxUID)
	}
}

func TestClusterConnectFromKubeconfig(t *testing.T) {
	kubetest.Config(t)
	c, err := Connect(os.Getenv(kubetest.KubeconfigEnv))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Discovery().ServerVersion(); err != nil {
		t.Fatalf("server version: %v", err)
	}
	if _, err := Connect(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing kubeconfig: got nil error")
	}
}

// Should the runner die mid-run, the Secret must not outlive its Job:
// the real garbage collector removes it through its owner reference.
func TestClusterSecretFollowsItsJob(t *testing.T) {
	admin, ns, runner := sandboxCluster(t, "")
	d := clusterDriver(t, runner, ns, "")
	rt, _ := sandbox.LookupRuntime("node")
	r := &run{name: newRunName(), rt: rt, workspace: mustTarball(t), job: sandbox.Job{
		ID: "orphan", Runtime: "node", Command: []string{"node", "x.js"},
		Limits: sandbox.DefaultLimits()}}
	if err := d.submit(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	policy := metav1.DeletePropagationBackground
	err := admin.BatchV1().Jobs(ns).Delete(t.Context(), r.name,
		metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil {
		t.Fatal(err)
	}
	mustBeGone(t, admin, ns)
}
