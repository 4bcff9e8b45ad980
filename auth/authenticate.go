package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
)

// Authenticate implements server.Authenticator: it reads the bearer token
// (or, for candidates, the x-api-key header the Anthropic SDK sends),
// verifies it for the route's audience and checks the database. It never
// reads the body.
func (s *Service) Authenticate(r *http.Request, aud server.Audience) (server.Principal, error) {
	tok, err := credential(r, aud)
	if err != nil {
		return server.Principal{}, err
	}
	switch aud {
	case server.Recruiter:
		return s.AuthenticateRecruiter(r.Context(), tok)
	case server.Candidate:
		return s.AuthenticateCandidate(r.Context(), tok)
	}
	return server.Principal{}, errs.E(errs.Unauthenticated, "no credential accepted for %s routes", aud)
}

// credential extracts the token. A candidate may send it as a bearer token
// or as x-api-key; sending two different tokens is refused rather than
// guessing which one counts.
func credential(r *http.Request, aud server.Audience) (string, error) {
	var bearer string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", errs.E(errs.Unauthenticated, "authorization header is not a bearer token")
		}
		bearer = strings.TrimSpace(tok)
	}
	key := ""
	if aud == server.Candidate {
		key = strings.TrimSpace(r.Header.Get("X-Api-Key"))
	}
	switch {
	case bearer != "" && key != "" && bearer != key:
		return "", errs.E(errs.Unauthenticated, "authorization and x-api-key carry different tokens")
	case bearer != "":
		return bearer, nil
	case key != "":
		return key, nil
	}
	return "", errs.E(errs.Unauthenticated, "no credentials")
}

// AuthenticateRecruiter verifies a recruiter token and checks that its
// account is enabled and its sign-in not revoked. The principal's role is
// the account's current role, so a demotion takes effect at once.
func (s *Service) AuthenticateRecruiter(ctx context.Context, tok string) (server.Principal, error) {
	c, err := s.verify(ctx, tok, recruiterKind)
	if err != nil {
		return server.Principal{}, err
	}
	if c.Session == "" {
		return server.Principal{}, errs.E(errs.Unauthenticated, "token names no sign-in")
	}
	rec, err := s.liveAccount(ctx, s.db.SQL, c.Session, c.Subject)
	if err != nil {
		return server.Principal{}, err
	}
	if rec.OrgID != c.Org {
		return server.Principal{}, errs.E(errs.Unauthenticated, "token names another organisation")
	}
	return server.Principal{Audience: server.Recruiter, Subject: rec.ID, OrgID: rec.OrgID,
		Role: rec.Role, TokenID: c.ID}, nil
}

// AuthenticateCandidate verifies a candidate token and checks that its
// submission is still open: once it is submitted, every candidate token
// for it stops working.
func (s *Service) AuthenticateCandidate(ctx context.Context, tok string) (server.Principal, error) {
	c, err := s.verify(ctx, tok, candidateKind)
	if err != nil {
		return server.Principal{}, err
	}
	if c.Submission == "" || c.Submission != c.Subject {
		return server.Principal{}, errs.E(errs.Unauthenticated, "token is bound to no submission")
	}
	if err := s.checkOpen(ctx, c.Submission, c.Org); err != nil {
		return server.Principal{}, err
	}
	return server.Principal{Audience: server.Candidate, Subject: c.Subject, OrgID: c.Org,
		SubmissionID: c.Submission, TokenID: c.ID}, nil
}

// checkOpen fails unless submission id of org is open.
func (s *Service) checkOpen(ctx context.Context, id, org string) error {
	var state, orgID string
	err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(
		`SELECT state, org_id FROM submissions WHERE id = ?`), id).Scan(&state, &orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return errs.E(errs.Unauthenticated, "submission is unknown")
	}
	if err != nil {
		return fmt.Errorf("read submission state: %w", err)
	}
	if orgID != org || state != store.StateOpen {
		return errs.E(errs.Unauthenticated, "submission is not open")
	}
	return nil
}

// SameSubmission returns nil if ctx's caller is a candidate bound to
// submission id, and a NotFound error otherwise, so a candidate cannot
// even learn whether another submission exists. Candidate routes that
// take a submission id from the path must call it first.
func SameSubmission(ctx context.Context, id string) error {
	p, ok := server.PrincipalFrom(ctx)
	if !ok || p.Audience != server.Candidate || p.SubmissionID == "" || p.SubmissionID != id {
		return errs.E(errs.NotFound, "submission %q not found", id)
	}
	return nil
}

// candidateClaims returns the claims of a new candidate token for sub.
func candidateClaims(sub store.Submission) Claims {
	return Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub.ID},
		Org: sub.OrgID, Submission: sub.ID}
}
