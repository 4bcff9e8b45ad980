package kubernetes

import (
	rbacv1 "k8s.io/api/rbac/v1"
)

// access is one permission the driver needs. The same list drives the
// Role in Manifests and the SelfSubjectAccessReviews of Preflight, so
// the two cannot drift apart.
type access struct {
	group, resource, subresource string
	verbs                        []string
	// name restricts the permission to one object; "" means any.
	name string
	// cluster marks a cluster-scoped resource (a ClusterRole grants it).
	cluster bool
}

// required lists what the driver does in the sandbox namespace: create,
// read and delete Jobs; create, adopt and delete workspace Secrets
// (never read them); find the pod of a Job and read its log; and, for
// the preflight, read the namespace, the NetworkPolicies, the run
// service account and the runtime class.
func (d *Driver) required() []access {
	return requiredAccess(d.opts.Namespace, d.opts.ServiceAccount, d.opts.RuntimeClass)
}

func requiredAccess(namespace, serviceAccount, runtimeClass string) []access {
	list := []access{
		{group: "batch", resource: "jobs", verbs: []string{"create", "get", "delete"}},
		{resource: "secrets", verbs: []string{"create", "patch", "delete"}},
		{resource: "pods", verbs: []string{"list"}},
		{resource: "pods", subresource: "log", verbs: []string{"get"}},
		{group: "networking.k8s.io", resource: "networkpolicies", verbs: []string{"list"}},
		{resource: "serviceaccounts", verbs: []string{"get"}, name: serviceAccount},
		{resource: "namespaces", verbs: []string{"get"}, name: namespace, cluster: true},
	}
	if runtimeClass != "" {
		list = append(list, access{group: "node.k8s.io", resource: "runtimeclasses",
			verbs: []string{"get"}, name: runtimeClass, cluster: true})
	}
	return list
}

// policyRules turns the cluster-scoped or the namespaced part of list
// into RBAC rules.
func policyRules(list []access, cluster bool) []rbacv1.PolicyRule {
	var rules []rbacv1.PolicyRule
	for _, a := range list {
		if a.cluster != cluster {
			continue
		}
		res := a.resource
		if a.subresource != "" {
			res += "/" + a.subresource
		}
		rule := rbacv1.PolicyRule{APIGroups: []string{a.group},
			Resources: []string{res}, Verbs: a.verbs}
		if a.name != "" {
			rule.ResourceNames = []string{a.name}
		}
		rules = append(rules, rule)
	}
	return rules
}
