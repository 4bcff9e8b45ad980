package server

import (
	"context"
	"net/http"
)

// Audience says which kind of caller a route accepts. It is checked, with
// the role, before the handler runs and before any body is read.
type Audience int

// Audiences.
const (
	Public    Audience = iota // anyone; no credential is read
	Recruiter                 // a recruiter token (audience devmesh-recruiter)
	Candidate                 // a candidate token (audience devmesh-candidate)
)

func (a Audience) String() string {
	switch a {
	case Public:
		return "public"
	case Recruiter:
		return "recruiter"
	case Candidate:
		return "candidate"
	}
	return "unknown"
}

// Principal is the authenticated caller of a request.
type Principal struct {
	Audience     Audience
	Subject      string // recruiter id, or the submission id for a candidate
	OrgID        string
	Role         string // recruiter role; empty for candidates
	SubmissionID string // candidates only: the one submission the token is bound to
	TokenID      string // the token's jti, for revocation and audit
}

// Authenticator turns a request's credential into a Principal for the
// audience the route accepts. It must return an *errs.Error of kind
// Unauthenticated for a missing, malformed, expired or revoked credential,
// and must not read the request body.
type Authenticator interface {
	Authenticate(r *http.Request, aud Audience) (Principal, error)
}

// HandlerFunc is an API handler. It writes a successful response itself
// and returns an error otherwise; the server's error adapter turns the
// error into the response.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Route is one entry of the API route table.
type Route struct {
	// Pattern is a net/http pattern with a method, such as
	// "POST /api/v1/tasks".
	Pattern string
	// Audience the caller must hold.
	Audience Audience
	// Roles lists the recruiter roles allowed; empty allows every role.
	// Ignored for other audiences.
	Roles []string
	// MaxBody bounds the request body in bytes; 0 means DefaultMaxBody.
	MaxBody int64
	// Browser marks routes that browsers navigate to (HTML pages); they
	// get a CSP and cross-origin protection. API routes take JSON only.
	Browser bool
	// Handler serves the route.
	Handler HandlerFunc
}

// DefaultMaxBody bounds request bodies of routes that set no limit.
const DefaultMaxBody = 1 << 20

type principalKey struct{}

// PrincipalFrom returns the caller of a request that passed
// authentication. ok is false on public routes.
func PrincipalFrom(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p. Tests and in-process callers use
// it; requests get it from the authentication middleware.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}
