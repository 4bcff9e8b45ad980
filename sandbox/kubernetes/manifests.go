package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// ManifestOptions name the objects an operator applies once per cluster.
type ManifestOptions struct {
	// Namespace holds the runs; default DefaultNamespace.
	Namespace string
	// ServiceAccount is the identity of run pods; default
	// DefaultServiceAccount.
	ServiceAccount string
	// RunnerNamespace and RunnerServiceAccount are the identity of the
	// devmesh runner that uses the driver; default "devmesh" and
	// "devmesh-runner". The runner must live outside the sandbox
	// namespace, whose policy cuts all traffic.
	RunnerNamespace      string
	RunnerServiceAccount string
	// RuntimeClass, if set, adds a RuntimeClass of that name whose
	// handler is RuntimeHandler (default "runsc", gVisor).
	RuntimeClass   string
	RuntimeHandler string
}

func (o ManifestOptions) withDefaults() ManifestOptions {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.ServiceAccount == "" {
		o.ServiceAccount = DefaultServiceAccount
	}
	if o.RunnerNamespace == "" {
		o.RunnerNamespace = "devmesh"
	}
	if o.RunnerServiceAccount == "" {
		o.RunnerServiceAccount = "devmesh-runner"
	}
	if o.RuntimeClass != "" && o.RuntimeHandler == "" {
		o.RuntimeHandler = "runsc"
	}
	return o
}

// DenyAllPolicyName names the NetworkPolicy of Manifests.
const DenyAllPolicyName = "deny-all"

// Manifests returns, in the order to apply them, the objects the driver
// needs and does not create itself: the sandbox Namespace enforcing the
// restricted pod security standard, a NetworkPolicy denying all ingress
// and egress, the run ServiceAccount without a token, the runner's Role
// and RoleBinding in the sandbox namespace, a ClusterRole and binding
// to read that one namespace (and runtime class), and, if asked, the
// RuntimeClass. The runner's own ServiceAccount is not included: it
// belongs to the runner's deployment.
func Manifests(o ManifestOptions) []runtime.Object {
	o = o.withDefaults()
	access := requiredAccess(o.Namespace, o.ServiceAccount, o.RuntimeClass)
	runner := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind,
		Namespace: o.RunnerNamespace, Name: o.RunnerServiceAccount}
	role := "devmesh-sandbox-driver"
	clusterRole := "devmesh-sandbox-driver-" + o.Namespace
	labels := map[string]string{LabelManagedBy: managedBy}
	meta := func(name, ns string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}

	objs := []runtime.Object{
		&corev1.Namespace{
			TypeMeta: typeMeta("v1", "Namespace"),
			ObjectMeta: metav1.ObjectMeta{Name: o.Namespace, Labels: map[string]string{
				LabelManagedBy:                     managedBy,
				podSecurityEnforce:                 restricted,
				podSecurityEnforce + "-version":    "latest",
				"pod-security.kubernetes.io/audit": restricted,
				"pod-security.kubernetes.io/warn":  restricted,
			}},
		},
		&networkingv1.NetworkPolicy{
			TypeMeta:   typeMeta("networking.k8s.io/v1", "NetworkPolicy"),
			ObjectMeta: meta(DenyAllPolicyName, o.Namespace),
			Spec: networkingv1.NetworkPolicySpec{
				// An empty selector picks every pod; no rules allow nothing.
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{
					networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			},
		},
		&corev1.ServiceAccount{
			TypeMeta:                     typeMeta("v1", "ServiceAccount"),
			ObjectMeta:                   meta(o.ServiceAccount, o.Namespace),
			AutomountServiceAccountToken: ptr(false),
		},
		&rbacv1.Role{
			TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "Role"),
			ObjectMeta: meta(role, o.Namespace),
			Rules:      policyRules(access, false),
		},
		&rbacv1.RoleBinding{
			TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"),
			ObjectMeta: meta(role, o.Namespace),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
			Subjects:   []rbacv1.Subject{runner},
		},
		&rbacv1.ClusterRole{
			TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"),
			ObjectMeta: meta(clusterRole, ""),
			Rules:      policyRules(access, true),
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   typeMeta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
			ObjectMeta: meta(clusterRole, ""),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
			Subjects:   []rbacv1.Subject{runner},
		},
	}
	if o.RuntimeClass != "" {
		objs = append(objs, &nodev1.RuntimeClass{
			TypeMeta:   typeMeta("node.k8s.io/v1", "RuntimeClass"),
			ObjectMeta: meta(o.RuntimeClass, ""),
			Handler:    o.RuntimeHandler,
		})
	}
	return objs
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

// ManifestsYAML renders Manifests as one multi-document YAML stream, as
// kubectl apply -f reads it.
func ManifestsYAML(o ManifestOptions) ([]byte, error) {
	var buf bytes.Buffer
	for i, obj := range Manifests(o) {
		doc, err := cleanYAML(obj)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(doc)
	}
	return buf.Bytes(), nil
}

// cleanYAML renders obj without the empty fields Go structs always
// carry (creationTimestamp, status) that no one writes by hand.
func cleanYAML(obj runtime.Object) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("render manifest: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, fmt.Errorf("render manifest: %w", err)
	}
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	if st, ok := m["status"].(map[string]any); ok && len(st) == 0 {
		delete(m, "status")
	}
	spec, ok := m["spec"].(map[string]any)
	if ok && len(spec) == 0 {
		delete(m, "spec")
	}
	return yaml.Marshal(m)
}
