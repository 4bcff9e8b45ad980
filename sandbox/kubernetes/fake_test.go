package kubernetes

// Tests in this file use client-go's fake clientset, which runs no
// controllers and no kubelet, for what the real test API server cannot
// show: API faults injected at chosen calls, and pod logs with chosen
// content. The fake job controller below stands in for a kubelet and is
// named as such; real validation, RBAC and scheduling are tested in
// cluster_test.go against kube-apiserver.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
)

// fakeCluster returns a fake clientset holding the objects Manifests
// describes, whose access reviews answer with allow.
func fakeCluster(t *testing.T, allow func(*authzv1.ResourceAttributes) bool) *fake.Clientset {
	t.Helper()
	var objs []runtime.Object
	for _, o := range Manifests(ManifestOptions{}) {
		objs = append(objs, o)
	}
	c := fake.NewClientset(objs...)
	c.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authzv1.SelfSubjectAccessReview)
		r.Status.Allowed = allow(r.Spec.ResourceAttributes)
		return true, r, nil
	})
	return c
}

func allowAll(*authzv1.ResourceAttributes) bool { return true }

// fakeJobController stands in for the job controller and a kubelet:
// when the run's Job appears it creates the Job's pod with the given
// status and marks the Job with the given condition.
func fakeJobController(t *testing.T, c *fake.Clientset, pod corev1.PodStatus, cond batchv1.JobConditionType) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			jobs, _ := c.BatchV1().Jobs(DefaultNamespace).List(ctx, metav1.ListOptions{})
			if jobs != nil && len(jobs.Items) > 0 {
				finishJob(ctx, c, &jobs.Items[0], pod, cond)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
}

func finishJob(ctx context.Context, c *fake.Clientset, job *batchv1.Job, status corev1.PodStatus, cond batchv1.JobConditionType) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-x", Namespace: job.Namespace,
			Labels: job.Spec.Template.Labels},
		Spec:   job.Spec.Template.Spec,
		Status: status,
	}
	c.CoreV1().Pods(job.Namespace).Create(ctx, p, metav1.CreateOptions{})
	job.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue}}
	c.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
}

// withLogs makes the fake serve body as every pod log.
func withLogs(c *fake.Clientset, body string) {
	c.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		return true, &runtime.Unknown{Raw: []byte(body)}, nil
	})
}

func fakeJob(t *testing.T) sandbox.Job {
	t.Helper()
	l := sandbox.DefaultLimits()
	l.OutputBytes = 1 * sandbox.KiB
	return sandbox.Job{ID: "fake-1", Runtime: "python", Command: []string{"true"}, Limits: l}
}

func exited(code int32, reason string) corev1.PodStatus {
	return terminated(code, reason).Status
}

func TestFakeLogCollectionFeedsSinkAndResult(t *testing.T) {
	c := fakeCluster(t, allowAll)
	withLogs(c, "hello from the pod\n")
	fakeJobController(t, c, exited(0, "Completed"), batchv1.JobComplete)
	d := mustDriver(t, Options{Client: c, PollInterval: 5 * time.Millisecond})

	var mu sync.Mutex
	var sunk bytes.Buffer
	job := fakeJob(t)
	job.Output = func(s sandbox.Stream, p []byte) { mu.Lock(); sunk.Write(p); mu.Unlock() }
	res, err := d.Run(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sandbox.OK || string(res.Stdout) != "hello from the pod\n" {
		t.Fatalf("got %s %q (%s), want ok with the pod's log", res.Outcome, res.Stdout, res.Detail)
	}
	if sunk.String() != "hello from the pod\n" {
		t.Errorf("sink got %q", sunk.String())
	}
}

func TestFakeLogCollectionCapsOutput(t *testing.T) {
	c := fakeCluster(t, allowAll)
	withLogs(c, strings.Repeat("x", 5000))
	fakeJobController(t, c, exited(0, "Completed"), batchv1.JobComplete)
	d := mustDriver(t, Options{Client: c, PollInterval: 5 * time.Millisecond})

	res, err := d.Run(t.Context(), fakeJob(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sandbox.OutputTruncated || len(res.Stdout) != 1024 {
		t.Fatalf("got %s with %d bytes, want output_truncated with 1024", res.Outcome, len(res.Stdout))
	}
}

func TestFakeLogFailureIsNeverOK(t *testing.T) {
	c := fakeCluster(t, allowAll)
	c.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		return true, nil, errors.New("kubelet unreachable")
	})
	fakeJobController(t, c, exited(0, "Completed"), batchv1.JobComplete)
	d := mustDriver(t, Options{Client: c, PollInterval: 5 * time.Millisecond})

	res, err := d.Run(t.Context(), fakeJob(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sandbox.SandboxError || !strings.Contains(res.Detail, "kubelet unreachable") {
		t.Fatalf("got %s (%s), want sandbox_error naming the log failure", res.Outcome, res.Detail)
	}
}

func TestFakeOOMKilledRunIsMemoryLimit(t *testing.T) {
	c := fakeCluster(t, allowAll)
	fakeJobController(t, c, exited(137, "OOMKilled"), batchv1.JobFailed)
	d := mustDriver(t, Options{Client: c, PollInterval: 5 * time.Millisecond})

	res, err := d.Run(t.Context(), fakeJob(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sandbox.MemoryLimit {
		t.Fatalf("got %s (%s), want memory_limit", res.Outcome, res.Detail)
	}
}

func TestFakeRunDeletesWhatItCreated(t *testing.T) {
	c := fakeCluster(t, allowAll)
	fakeJobController(t, c, exited(0, "Completed"), batchv1.JobComplete)
	d := mustDriver(t, Options{Client: c, PollInterval: 5 * time.Millisecond})
	job := fakeJob(t)
	job.Workspace = bytes.NewReader([]byte("not really gzip"))

	if _, err := d.Run(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	jobs, _ := c.BatchV1().Jobs(DefaultNamespace).List(t.Context(), metav1.ListOptions{})
	secrets, _ := c.CoreV1().Secrets(DefaultNamespace).List(t.Context(), metav1.ListOptions{})
	if len(jobs.Items) != 0 || len(secrets.Items) != 0 {
		t.Errorf("left %d jobs and %d secrets behind", len(jobs.Items), len(secrets.Items))
	}
	var deleted []string
	for _, a := range c.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			opts := d.GetDeleteOptions()
			deleted = append(deleted, fmt.Sprintf("%s:%v", a.GetResource().Resource, opts.PropagationPolicy != nil))
		}
	}
	if strings.Join(deleted, ",") != "jobs:true,secrets:false" {
		t.Errorf("deletions %v, want the job with a propagation policy, then the secret", deleted)
	}
}

// Fault injection: a refused Job creation is an error of the driver, and
// the Secret already created for it does not stay behind.
func TestFakeJobCreateFailure(t *testing.T) {
	c := fakeCluster(t, allowAll)
	c.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcd is down")
	})
	d := mustDriver(t, Options{Client: c, PollInterval: 5 * time.Millisecond})
	job := fakeJob(t)
	job.Workspace = bytes.NewReader([]byte("tarball"))

	_, err := d.Run(t.Context(), job)
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.Unavailable || !strings.Contains(err.Error(), "etcd is down") {
		t.Fatalf("got %v, want an Unavailable error with the cause", err)
	}
	secrets, _ := c.CoreV1().Secrets(DefaultNamespace).List(t.Context(), metav1.ListOptions{})
	if len(secrets.Items) != 0 {
		t.Errorf("the workspace secret stayed behind")
	}
}

// Fault injection: reads that fail while the run is in flight are
// retried on the next poll, not reported as the run's outcome.
func TestFakeTransientReadErrorsAreRetried(t *testing.T) {
	c := fakeCluster(t, allowAll)
	var mu sync.Mutex
	failures := 3
	c.PrependReactor("get", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return true, nil, errors.New("connection reset")
		}
		return false, nil, nil
	})
	fakeJobController(t, c, exited(4, "Error"), batchv1.JobFailed)
	d := mustDriver(t, Options{Client: c, PollInterval: 5 * time.Millisecond})

	res, err := d.Run(t.Context(), fakeJob(t))
	if err != nil || res.Outcome != sandbox.ExitCode || res.ExitCode != 4 {
		t.Fatalf("got %+v, %v; want exit_code 4", res, err)
	}
}

func TestFakeCanceledRunIsSandboxError(t *testing.T) {
	c := fakeCluster(t, allowAll)
	d := mustDriver(t, Options{Client: c, PollInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()

	res, err := d.Run(ctx, fakeJob(t))
	if err != nil || res.Outcome != sandbox.SandboxError || !strings.Contains(res.Detail, "canceled") {
		t.Fatalf("got %+v, %v; want sandbox_error for a canceled run", res, err)
	}
}

func TestFakePreflightGatesRun(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(*fake.Clientset)
		allow  func(*authzv1.ResourceAttributes) bool
		probe  string
	}{
		{"missing network policy", func(c *fake.Clientset) {
			c.NetworkingV1().NetworkPolicies(DefaultNamespace).Delete(context.Background(), DenyAllPolicyName, metav1.DeleteOptions{})
		}, allowAll, "network-policy"},
		{"network policy allowing egress", func(c *fake.Clientset) {
			p, _ := c.NetworkingV1().NetworkPolicies(DefaultNamespace).Get(context.Background(), DenyAllPolicyName, metav1.GetOptions{})
			p.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}}
			c.NetworkingV1().NetworkPolicies(DefaultNamespace).Update(context.Background(), p, metav1.UpdateOptions{})
		}, allowAll, "network-policy"},
		{"namespace without restricted pod security", func(c *fake.Clientset) {
			ns, _ := c.CoreV1().Namespaces().Get(context.Background(), DefaultNamespace, metav1.GetOptions{})
			ns.Labels[podSecurityEnforce] = "baseline"
			c.CoreV1().Namespaces().Update(context.Background(), ns, metav1.UpdateOptions{})
		}, allowAll, "namespace"},
		{"service account mounting its token", func(c *fake.Clientset) {
			sa, _ := c.CoreV1().ServiceAccounts(DefaultNamespace).Get(context.Background(), DefaultServiceAccount, metav1.GetOptions{})
			sa.AutomountServiceAccountToken = nil
			c.CoreV1().ServiceAccounts(DefaultNamespace).Update(context.Background(), sa, metav1.UpdateOptions{})
		}, allowAll, "service-account"},
		{"rbac denying log reads", func(*fake.Clientset) {}, func(a *authzv1.ResourceAttributes) bool {
			return a.Subresource != "log"
		}, "rbac"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeCluster(t, tt.allow)
			tt.break_(c)
			d := mustDriver(t, Options{Client: c})
			probes, err := d.Preflight(t.Context())
			if err == nil {
				t.Fatal("preflight passed")
			}
			for _, p := range probes {
				if p.OK == (p.Name == tt.probe) {
					t.Errorf("probe %s ok=%v (%s)", p.Name, p.OK, p.Detail)
				}
			}
			_, err = d.Run(t.Context(), fakeJob(t))
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.Unavailable {
				t.Errorf("run after failed preflight: got %v, want Unavailable", err)
			}
			jobs, _ := c.BatchV1().Jobs(DefaultNamespace).List(t.Context(), metav1.ListOptions{})
			if len(jobs.Items) != 0 {
				t.Errorf("a job was created despite the failed preflight")
			}
		})
	}
}

func TestFakePreflightPasses(t *testing.T) {
	d := mustDriver(t, Options{Client: fakeCluster(t, allowAll)})
	probes, err := d.Preflight(t.Context())
	if err != nil {
		t.Fatalf("preflight: %v (%+v)", err, probes)
	}
	if len(probes) != 4 {
		t.Errorf("got %d probes, want 4", len(probes))
	}
}

// Fault injection: a Job deleted behind the driver's back ends the run
// at once as a sandbox error instead of waiting out its deadline.
func TestFakeJobDeletedByOthers(t *testing.T) {
	c := fakeCluster(t, allowAll)
	c.PrependReactor("get", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name := a.(k8stesting.GetAction).GetName()
		return true, nil, apierrors.NewNotFound(batchv1.Resource("jobs"), name)
	})
	d := mustDriver(t, Options{Client: c, PollInterval: 5 * time.Millisecond})

	start := time.Now()
	res, err := d.Run(t.Context(), fakeJob(t))
	if err != nil || res.Outcome != sandbox.SandboxError || !strings.Contains(res.Detail, "not found") {
		t.Fatalf("got %+v, %v; want sandbox_error naming the missing job", res, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v to notice", time.Since(start))
	}
}

// A policy deleted after a passing preflight stops runs once the pass
// is older than Recheck.
func TestFakePreflightIsRechecked(t *testing.T) {
	c := fakeCluster(t, allowAll)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	d := mustDriver(t, Options{Client: c, Now: clock, Recheck: time.Minute,
		PollInterval: 5 * time.Millisecond})
	if _, err := d.Preflight(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := c.NetworkingV1().NetworkPolicies(DefaultNamespace).Delete(t.Context(), DenyAllPolicyName, metav1.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()

	_, err = d.Run(t.Context(), fakeJob(t))
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.Unavailable || !strings.Contains(err.Error(), "network") {
		t.Fatalf("got %v, want Unavailable naming the network policy", err)
	}
}

func runningStatus() corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{Name: runContainer,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{
				StartedAt: metav1.Now()}}}}}
}

// The output limit stops a run that is still going, long before its
// wall clock would.
func TestFakeOutputOverflowStopsTheRun(t *testing.T) {
	c := fakeCluster(t, allowAll)
	withLogs(c, strings.Repeat("y", 5000))
	fakeJobController(t, c, runningStatus(), "Running")
	// Should output not arrive live, the wall clock ends the test.
	d := mustDriver(t, Options{Client: c, PollInterval: 5 * time.Millisecond,
		StartGrace: time.Second})
	job := fakeJob(t)
	job.Limits.WallTime = 3 * time.Second

	start := time.Now()
	res, err := d.Run(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sandbox.OutputTruncated || len(res.Stdout) != 1024 {
		t.Fatalf("got %s with %d bytes, want output_truncated with 1024", res.Outcome, len(res.Stdout))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v: the run was not stopped at the output limit", took)
	}
	jobs, _ := c.BatchV1().Jobs(DefaultNamespace).List(t.Context(), metav1.ListOptions{})
	if len(jobs.Items) != 0 {
		t.Errorf("the stopped run's job was not deleted")
	}
}

// Output reaches the sink while the command still runs.
func TestFakeOutputIsLive(t *testing.T) {
	c := fakeCluster(t, allowAll)
	withLogs(c, "first line\n")
	fakeJobController(t, c, runningStatus(), "Running")
	// Should output not arrive live, the wall clock ends the test.
	d := mustDriver(t, Options{Client: c, PollInterval: 5 * time.Millisecond,
		StartGrace: time.Second})

	seen := make(chan struct{})
	var once sync.Once
	job := fakeJob(t)
	job.Limits.WallTime = 3 * time.Second
	job.Output = func(sandbox.Stream, []byte) { once.Do(func() { close(seen) }) }
	go func() {
		select {
		case <-seen:
		case <-time.After(5 * time.Second):
			return
		}
		// Only now does the run end.
		ctx := context.Background()
		pods, _ := c.CoreV1().Pods(DefaultNamespace).List(ctx, metav1.ListOptions{})
		jobs, _ := c.BatchV1().Jobs(DefaultNamespace).List(ctx, metav1.ListOptions{})
		if len(pods.Items) == 0 || len(jobs.Items) == 0 {
			return
		}
		p := pods.Items[0]
		p.Status = exited(0, "Completed")
		c.CoreV1().Pods(DefaultNamespace).UpdateStatus(ctx, &p, metav1.UpdateOptions{})
		j := jobs.Items[0]
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		c.BatchV1().Jobs(DefaultNamespace).UpdateStatus(ctx, &j, metav1.UpdateOptions{})
	}()

	res, err := d.Run(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sandbox.OK || string(res.Stdout) != "first line\n" {
		t.Fatalf("got %s %q (%s), want ok with the live line", res.Outcome, res.Stdout, res.Detail)
	}
}
