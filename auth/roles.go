package auth

import "github.com/devmesh/devmesh/store"

// Role sets for server.Route.Roles. Every recruiter route names one, so
// the table in docs/auth.md is the whole policy. A route of one
// organisation's data also filters by the caller's organisation and
// answers 404, never 403, for another organisation's records.
var (
	// CanRead: every role may read its organisation's tasks, assessments,
	// submissions, replays and reports.
	CanRead = []string{store.RoleOwner, store.RoleAdmin, store.RoleRecruiter, store.RoleViewer}
	// CanInvite: create and delete assessments, invite candidates.
	CanInvite = []string{store.RoleOwner, store.RoleAdmin, store.RoleRecruiter}
	// CanUploadTasks: upload task bundles.
	CanUploadTasks = []string{store.RoleOwner, store.RoleAdmin, store.RoleRecruiter}
	// CanReevaluate: re-run evaluation components, resolve disputes.
	CanReevaluate = []string{store.RoleOwner, store.RoleAdmin, store.RoleRecruiter}
	// CanManageAccounts: create, disable and re-role recruiter accounts.
	CanManageAccounts = []string{store.RoleOwner, store.RoleAdmin}
	// CanManageOrg: organisation settings, signing key rotation through
	// the API, deleting the organisation.
	CanManageOrg = []string{store.RoleOwner}
)
