package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/devmesh/devmesh/auth"
	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/store"
)

// Password length bounds. The upper bound keeps argon2 input sane and
// stops a megabyte "password" from being a cheap denial of service.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// CheckPassword reports why password is unacceptable, or nil.
func CheckPassword(password secret.String) error {
	n := utf8.RuneCountInString(password.Reveal())
	if n < MinPasswordLen || n > MaxPasswordLen {
		return errs.E(errs.Invalid, "password must be %d to %d characters, got %d",
			MinPasswordLen, MaxPasswordLen, n)
	}
	return nil
}

// CreateRecruiter creates the organisation called orgName if it is new,
// then a recruiter account in it with an argon2id hash of password.
func CreateRecruiter(ctx context.Context, db *store.DB, orgName, email, role string, password secret.String) (store.Recruiter, bool, error) {
	if err := CheckPassword(password); err != nil {
		return store.Recruiter{}, false, err
	}
	if !store.ValidRole(role) {
		return store.Recruiter{}, false, errs.E(errs.Invalid,
			"invalid role %q: must be owner, admin, recruiter or viewer", role)
	}
	if _, err := store.NormalizeEmail(email); err != nil {
		return store.Recruiter{}, false, err
	}
	org, created, err := db.EnsureOrganization(ctx, orgName)
	if err != nil {
		return store.Recruiter{}, false, err
	}
	hash, err := auth.HashPassword(password.Reveal())
	if err != nil {
		return store.Recruiter{}, false, fmt.Errorf("hash password: %w", err)
	}
	r, err := db.CreateRecruiter(ctx, org.ID, email, role, hash)
	return r, created, err
}

// GeneratePassword returns a random password of 24 URL-safe characters
// (144 bits).
func GeneratePassword() secret.String {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("read random: %v", err))
	}
	return secret.New(base64.RawURLEncoding.EncodeToString(b[:]))
}
