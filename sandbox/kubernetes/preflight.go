package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	authzv1 "k8s.io/api/authorization/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/sandbox"
)

// Pod security admission label the sandbox namespace must carry.
const (
	podSecurityEnforce = "pod-security.kubernetes.io/enforce"
	restricted         = "restricted"
)

// Preflight checks, against the cluster, what the driver relies on but
// does not create: the namespace with restricted pod security, a
// NetworkPolicy that denies all ingress and egress to every pod there,
// the run service account without a token mount, the runtime class if
// one is configured, and RBAC permission for every call the driver
// makes. Run refuses jobs until a preflight passes, and repeats it once
// the last pass is older than Options.Recheck.
func (d *Driver) Preflight(ctx context.Context) ([]sandbox.ProbeResult, error) {
	d.preflightMu.Lock()
	defer d.preflightMu.Unlock()

	probes := []sandbox.ProbeResult{
		d.probeNamespace(ctx),
		d.probeNetworkPolicy(ctx),
		d.probeServiceAccount(ctx),
	}
	if d.opts.RuntimeClass != "" {
		probes = append(probes, d.probeRuntimeClass(ctx))
	}
	probes = append(probes, d.probeAccess(ctx))

	var err error
	for _, p := range probes {
		if !p.OK {
			err = errors.Join(err, fmt.Errorf("probe %s failed: %s", p.Name, p.Detail))
		}
	}
	d.mu.Lock()
	d.probed, d.probedAt = err, d.opts.Now()
	d.mu.Unlock()
	if err != nil {
		d.log.Error("kubernetes sandbox preflight failed", "err", err)
		return probes, errs.Wrap(errs.Unavailable, err, "sandbox preflight failed")
	}
	d.log.Info("kubernetes sandbox preflight passed", "namespace", d.opts.Namespace)
	return probes, nil
}

func probe(name string, err error, ok string) sandbox.ProbeResult {
	if err != nil {
		return sandbox.ProbeResult{Name: name, Detail: err.Error()}
	}
	return sandbox.ProbeResult{Name: name, OK: true, Detail: ok}
}

func (d *Driver) probeNamespace(ctx context.Context) sandbox.ProbeResult {
	ns := d.opts.Namespace
	err := func() error {
		n, err := d.opts.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read namespace %q: %w", ns, err)
		}
		if got := n.Labels[podSecurityEnforce]; got != restricted {
			return fmt.Errorf("namespace %q has %s=%q, want %q",
				ns, podSecurityEnforce, got, restricted)
		}
		return nil
	}()
	return probe("namespace", err, fmt.Sprintf("%q enforces restricted pod security", ns))
}

func (d *Driver) probeNetworkPolicy(ctx context.Context) sandbox.ProbeResult {
	ns := d.opts.Namespace
	err := func() error {
		list, err := d.opts.Client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list network policies in %q: %w", ns, err)
		}
		for _, p := range list.Items {
			if DeniesAll(&p) {
				return nil
			}
		}
		return fmt.Errorf("no network policy in %q denies all ingress and egress "+
			"of every pod; apply deploy/kubernetes/", ns)
	}()
	return probe("network-policy", err, "all ingress and egress denied")
}

// DeniesAll reports whether p selects every pod of its namespace and
// allows no ingress and no egress at all. Policies are additive, so a
// second policy may still open a path: a cluster's admins must not add
// one to the sandbox namespace.
func DeniesAll(p *networkingv1.NetworkPolicy) bool {
	sel := p.Spec.PodSelector
	if len(sel.MatchLabels) > 0 || len(sel.MatchExpressions) > 0 {
		return false
	}
	types := p.Spec.PolicyTypes
	return slices.Contains(types, networkingv1.PolicyTypeIngress) &&
		slices.Contains(types, networkingv1.PolicyTypeEgress) &&
		len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0
}

func (d *Driver) probeServiceAccount(ctx context.Context) sandbox.ProbeResult {
	name := d.opts.ServiceAccount
	err := func() error {
		sas := d.opts.Client.CoreV1().ServiceAccounts(d.opts.Namespace)
		sa, err := sas.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read service account %q: %w", name, err)
		}
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			return fmt.Errorf("service account %q mounts its token; "+
				"set automountServiceAccountToken: false", name)
		}
		return nil
	}()
	return probe("service-account", err, fmt.Sprintf("%q mounts no token", name))
}

func (d *Driver) probeRuntimeClass(ctx context.Context) sandbox.ProbeResult {
	name := d.opts.RuntimeClass
	rc, err := d.opts.Client.NodeV1().RuntimeClasses().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return probe("runtime-class", fmt.Errorf("read runtime class %q: %w", name, err), "")
	}
	return probe("runtime-class", nil, fmt.Sprintf("%q uses handler %q", name, rc.Handler))
}

// probeAccess asks the API server, for each permission the driver needs,
// whether the driver's own identity holds it.
func (d *Driver) probeAccess(ctx context.Context) sandbox.ProbeResult {
	var denied []string
	var err error
	for _, a := range d.required() {
		for _, verb := range a.verbs {
			ok, e := d.allowed(ctx, a, verb)
			if e != nil {
				err = errors.Join(err, e)
			} else if !ok {
				denied = append(denied, describe(a, verb))
			}
		}
	}
	if err == nil && len(denied) > 0 {
		err = fmt.Errorf("denied: %s", strings.Join(denied, ", "))
	}
	return probe("rbac", err, "every call the driver makes is allowed")
}

func (d *Driver) allowed(ctx context.Context, a access, verb string) (bool, error) {
	attrs := &authzv1.ResourceAttributes{
		Group: a.group, Resource: a.resource, Subresource: a.subresource,
		Verb: verb, Name: a.name,
	}
	if !a.cluster {
		attrs.Namespace = d.opts.Namespace
	}
	review := &authzv1.SelfSubjectAccessReview{
		Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs},
	}
	reviews := d.opts.Client.AuthorizationV1().SelfSubjectAccessReviews()
	got, err := reviews.Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("review access %s: %w", describe(a, verb), err)
	}
	return got.Status.Allowed, nil
}

func describe(a access, verb string) string {
	s := verb + " " + a.resource
	if a.subresource != "" {
		s += "/" + a.subresource
	}
	if a.name != "" {
		s += " " + a.name
	}
	return s
}
