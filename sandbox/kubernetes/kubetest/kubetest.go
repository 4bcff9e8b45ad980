// Package kubetest hands tests the real Kubernetes API server that
// scripts/lib/kube.sh starts: kube-apiserver on etcd, with
// kube-controller-manager, kube-scheduler and kwok faking one node.
// There is no kubelet: kwok marks pods running and then complete
// without running any container. Config skips the test when the server
// is not configured, except under CI (CI=true), where that is a failure.
package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeconfigEnv is set by scripts/lib/kube.sh to a kubeconfig that holds
// cluster-admin credentials for the test API server.
const KubeconfigEnv = "DEVMESH_TEST_KUBECONFIG"

// Config returns the admin client configuration of the test API server,
// or skips (fails under CI) the test when KubeconfigEnv is unset.
func Config(t testing.TB) *rest.Config {
	t.Helper()
	path := os.Getenv(KubeconfigEnv)
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must run the Kubernetes tests "+
				"(scripts/lib/kube.sh starts the API server)", KubeconfigEnv)
		}
		t.Skipf("%s is not set; run scripts/test.sh to test against a real "+
			"Kubernetes API server", KubeconfigEnv)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("load %s=%q: %v", KubeconfigEnv, path, err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	return cfg
}

// Client returns an admin clientset for the test API server.
func Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(Config(t))
	if err != nil {
		t.Fatalf("kubernetes client: %v", err)
	}
	return c
}

// Impersonate returns a clientset that acts as the service account
// namespace/name, so RBAC applies to it as it would to a pod running
// under that account.
func Impersonate(t testing.TB, namespace, name string) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(Config(t))
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts",
			"system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("kubernetes client: %v", err)
	}
	return c
}

// UniqueName returns prefix followed by a random suffix, a valid
// namespace name when prefix is one.
func UniqueName(prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Namespace creates a fresh namespace with the given labels and deletes
// it when the test ends. The test cluster runs no namespace controller,
// so a deleted namespace stays Terminating; names never repeat.
func Namespace(t testing.TB, c kubernetes.Interface, labels map[string]string) string {
	t.Helper()
	name := UniqueName("t-")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}
