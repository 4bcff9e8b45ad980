package kubernetes

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes from Manifests")

// deployFiles are the YAML files an operator applies, kept equal to
// what Manifests returns.
var deployFiles = []struct {
	file string
	opts ManifestOptions
}{
	{"sandbox.yaml", ManifestOptions{}},
	{"sandbox-gvisor.yaml", ManifestOptions{RuntimeClass: "gvisor"}},
}

func TestDeployManifestsMatchCode(t *testing.T) {
	for _, f := range deployFiles {
		want, err := ManifestsYAML(f.opts)
		if err != nil {
			t.Fatal(err)
		}
		want = append([]byte(deployHeader), want...)
		path := filepath.Join("..", "..", "deploy", "kubernetes", f.file)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from Manifests; run go test ./sandbox/kubernetes -run DeployManifests -update", path)
		}
	}
}

const deployHeader = `# Objects the Kubernetes sandbox driver needs and does not create.
# Generated from sandbox/kubernetes.Manifests: edit the code, then run
#   go test ./sandbox/kubernetes -run DeployManifests -update
# See docs/kubernetes.md.
`

func TestRoleGrantsOnlyWhatTheDriverUses(t *testing.T) {
	var role *rbacv1.Role
	for _, o := range Manifests(ManifestOptions{}) {
		if r, ok := o.(*rbacv1.Role); ok {
			role = r
		}
	}
	if role == nil {
		t.Fatal("no Role in the manifests")
	}
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			if v == "*" || v == "list" && slices.Contains(r.Resources, "secrets") ||
				v == "get" && slices.Contains(r.Resources, "secrets") ||
				slices.Contains(r.Resources, "*") {
				t.Errorf("role rule %+v grants more than the driver needs", r)
			}
		}
		if slices.Contains(r.Resources, "pods") && !slices.Equal(r.Verbs, []string{"list"}) {
			t.Errorf("role rule %+v: the driver never creates pods itself", r)
		}
	}
}

func TestDeniesAll(t *testing.T) {
	deny := func() *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		}}
	}
	tests := []struct {
		name   string
		modify func(*networkingv1.NetworkPolicy)
		want   bool
	}{
		{"empty selector, both types, no rules", func(*networkingv1.NetworkPolicy) {}, true},
		{"selects some pods only", func(p *networkingv1.NetworkPolicy) {
			p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, false},
		{"ingress only", func(p *networkingv1.NetworkPolicy) {
			p.Spec.PolicyTypes = p.Spec.PolicyTypes[:1]
		}, false},
		{"allows some egress", func(p *networkingv1.NetworkPolicy) {
			p.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}}
		}, false},
		{"allows some ingress", func(p *networkingv1.NetworkPolicy) {
			p.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
		}, false},
	}
	for _, tt := range tests {
		p := deny()
		tt.modify(p)
		if got := DeniesAll(p); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
