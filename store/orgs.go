package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

// Organization is a customer account; every other record belongs to one.
type Organization struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Roles a recruiter account can hold, from most to least privileged. The
// strings are stored: never rename or reuse one.
const (
	RoleOwner     = "owner"
	RoleAdmin     = "admin"
	RoleRecruiter = "recruiter"
	RoleViewer    = "viewer"
)

// ValidRole reports whether role is one of the four roles.
func ValidRole(role string) bool {
	switch role {
	case RoleOwner, RoleAdmin, RoleRecruiter, RoleViewer:
		return true
	}
	return false
}

// Recruiter is a person who signs in to an organisation.
type Recruiter struct {
	ID           string
	OrgID        string
	Email        string
	Role         string
	PasswordHash string // an encoded argon2id hash, never a password
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// EnsureOrganization returns the organisation called name, creating it if
// it does not exist. created reports whether it was created.
func (db *DB) EnsureOrganization(ctx context.Context, name string) (org Organization, created bool, err error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return org, false, errs.E(errs.Invalid, "invalid organization name %q: must be 1 to 200 characters", name)
	}
	org, err = db.OrganizationByName(ctx, name)
	if err == nil {
		return org, false, nil
	}
	if !errs.Is(err, errs.NotFound) {
		return org, false, err
	}
	org = Organization{ID: db.NewID("org"), Name: name, CreatedAt: db.Now()}
	_, err = db.SQL.ExecContext(ctx, db.Rebind(
		`INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)`),
		org.ID, org.Name, org.CreatedAt)
	if isUniqueViolation(err) {
		// Someone else created it between our read and our insert.
		org, err = db.OrganizationByName(ctx, name)
		return org, false, err
	}
	if err != nil {
		return org, false, fmt.Errorf("create organization %q: %w", name, err)
	}
	return org, true, nil
}

// OrganizationByName returns the organisation called name.
func (db *DB) OrganizationByName(ctx context.Context, name string) (Organization, error) {
	var o Organization
	err := db.SQL.QueryRowContext(ctx, db.Rebind(
		`SELECT id, name, created_at FROM organizations WHERE name = ?`), name).
		Scan(&o.ID, &o.Name, &o.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return o, errs.E(errs.NotFound, "organization %q not found", name)
	}
	if err != nil {
		return o, fmt.Errorf("read organization %q: %w", name, err)
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return o, nil
}

// CountOrganizations returns how many organisations exist.
func (db *DB) CountOrganizations(ctx context.Context) (int, error) {
	var n int
	err := db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM organizations`).Scan(&n)
	return n, err
}

// NormalizeEmail lowercases and trims an address and checks its shape.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	at := strings.IndexByte(e, '@')
	if len(e) > 254 || at < 1 || at == len(e)-1 || strings.ContainsAny(e, " \t\r\n<>\"") ||
		strings.Count(e, "@") != 1 {
		return "", errs.E(errs.Invalid, "invalid email %q", email)
	}
	return e, nil
}

// CreateRecruiter adds a recruiter account. The email must be unused.
func (db *DB) CreateRecruiter(ctx context.Context, orgID, email, role, passwordHash string) (Recruiter, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return Recruiter{}, err
	}
	if !ValidRole(role) {
		return Recruiter{}, errs.E(errs.Invalid,
			"invalid role %q: must be owner, admin, recruiter or viewer", role)
	}
	now := db.Now()
	r := Recruiter{ID: db.NewID("rec"), OrgID: orgID, Email: email, Role: role,
		PasswordHash: passwordHash, CreatedAt: now, UpdatedAt: now}
	_, err = db.SQL.ExecContext(ctx, db.Rebind(`INSERT INTO recruiters
		(id, org_id, email, role, password_hash, disabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		r.ID, r.OrgID, r.Email, r.Role, r.PasswordHash, false, now, now)
	if isUniqueViolation(err) {
		return Recruiter{}, errs.E(errs.Conflict, "a recruiter with email %q already exists", email)
	}
	if isForeignKeyViolation(err) {
		return Recruiter{}, errs.E(errs.NotFound, "organization %q not found", orgID)
	}
	if err != nil {
		return Recruiter{}, fmt.Errorf("create recruiter: %w", err)
	}
	return r, nil
}

const recruiterCols = `id, org_id, email, role, password_hash, disabled, created_at, updated_at`

func scanRecruiter(row interface{ Scan(...any) error }) (Recruiter, error) {
	var r Recruiter
	err := row.Scan(&r.ID, &r.OrgID, &r.Email, &r.Role, &r.PasswordHash,
		&r.Disabled, &r.CreatedAt, &r.UpdatedAt)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// RecruiterByEmail returns the account with that email.
func (db *DB) RecruiterByEmail(ctx context.Context, email string) (Recruiter, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return Recruiter{}, err
	}
	r, err := scanRecruiter(db.SQL.QueryRowContext(ctx, db.Rebind(
		`SELECT `+recruiterCols+` FROM recruiters WHERE email = ?`), e))
	if errors.Is(err, sql.ErrNoRows) {
		return r, errs.E(errs.NotFound, "recruiter not found")
	}
	if err != nil {
		return r, fmt.Errorf("read recruiter: %w", err)
	}
	return r, nil
}

// RecruiterByID returns the account with that id.
func (db *DB) RecruiterByID(ctx context.Context, id string) (Recruiter, error) {
	r, err := scanRecruiter(db.SQL.QueryRowContext(ctx, db.Rebind(
		`SELECT `+recruiterCols+` FROM recruiters WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, errs.E(errs.NotFound, "recruiter not found")
	}
	if err != nil {
		return r, fmt.Errorf("read recruiter: %w", err)
	}
	return r, nil
}
