package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/devmesh/devmesh/internal/errs"
)

// Audiences and JWT types of the two token kinds. They are part of the
// wire contract: never rename or reuse one.
const (
	RecruiterAudience = "devmesh-recruiter"
	CandidateAudience = "devmesh-candidate"
	RecruiterType     = "recruiter+jwt"
	CandidateType     = "candidate+jwt"
)

// MaxTokenLifetime caps the lifetime of every access token, issued or
// accepted. Key retirement waits for it.
const MaxTokenLifetime = 15 * time.Minute

// MaxTokenSize is the longest token string verification will parse; a
// longer one is refused before any decoding.
const MaxTokenSize = 4 << 10

// algorithm is the only signing algorithm issued or accepted.
const algorithm = "EdDSA"

// kind is a token kind: its audience and JWT type go together.
type kind struct {
	aud, typ string
}

var (
	recruiterKind = kind{RecruiterAudience, RecruiterType}
	candidateKind = kind{CandidateAudience, CandidateType}
)

// Claims are the claims of DevMesh access tokens.
type Claims struct {
	jwt.RegisteredClaims
	// Org is the organisation of the recruiter or of the submission.
	Org string `json:"org"`
	// Role is the recruiter's role; recruiter tokens only.
	Role string `json:"role,omitempty"`
	// Session is the recruiter's sign-in (token family); recruiter tokens
	// only. Revoking it ends every token of that sign-in.
	Session string `json:"sid,omitempty"`
	// Submission is the one submission a candidate token is bound to.
	Submission string `json:"submission,omitempty"`
}

// issue signs claims as a token of kind k that lives for ttl.
func (s *Service) issue(k kind, c Claims, ttl time.Duration) (string, error) {
	key, err := s.keys.current()
	if err != nil {
		return "", err
	}
	now := s.now()
	c.Issuer = s.cfg.Issuer
	c.Audience = jwt.ClaimStrings{k.aud}
	c.IssuedAt = jwt.NewNumericDate(now)
	c.NotBefore = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	c.ID = s.randomID()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["typ"] = k.typ
	t.Header["kid"] = key.kid
	signed, err := t.SignedString(key.private)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signed, nil
}

// verify is the one verification path for every access token. It refuses
// a token over MaxTokenSize before parsing it, accepts only EdDSA, looks
// the kid up only in the in-memory key set, and checks the JWT type,
// issuer, audience, exp, nbf and iat (all required, with the configured
// leeway) and that the token lives no longer than MaxTokenLifetime.
func (s *Service) verify(ctx context.Context, token string, k kind) (*Claims, error) {
	if len(token) > MaxTokenSize {
		return nil, errs.E(errs.Unauthenticated, "token is longer than %d bytes", MaxTokenSize)
	}
	var c Claims
	_, err := s.parser(k).ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		return s.keyFor(ctx, t, k)
	})
	if err != nil {
		return nil, tokenError(err)
	}
	if c.ID == "" || c.Subject == "" || c.Org == "" {
		return nil, errs.E(errs.Unauthenticated, "token lacks jti, sub or org")
	}
	if c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxTokenLifetime {
		return nil, errs.E(errs.Unauthenticated, "token lifetime exceeds %s", MaxTokenLifetime)
	}
	return &c, nil
}

func (s *Service) parser(k kind) *jwt.Parser {
	return jwt.NewParser(
		// Exactly one algorithm: "none", HS256 with the public key as the
		// HMAC secret, and every other substitution are refused here.
		jwt.WithValidMethods([]string{algorithm}),
		jwt.WithIssuer(s.cfg.Issuer),
		jwt.WithAudience(k.aud),
		jwt.WithExpirationRequired(),
		jwt.WithNotBeforeRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(s.cfg.Leeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	)
}

// keyFor checks the header of t and returns its verifying key.
func (s *Service) keyFor(ctx context.Context, t *jwt.Token, k kind) (any, error) {
	// Checked again here, independent of the parser option, because
	// returning an Ed25519 key to any other method is what key confusion
	// attacks need.
	if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok || t.Method.Alg() != algorithm {
		return nil, errs.E(errs.Unauthenticated, "unexpected signing algorithm")
	}
	if typ, _ := t.Header["typ"].(string); typ != k.typ {
		return nil, errs.E(errs.Unauthenticated, "unexpected token type")
	}
	kid, _ := t.Header["kid"].(string)
	if !validKid(kid) {
		return nil, errs.E(errs.Unauthenticated, "malformed key id")
	}
	key, err := s.keys.lookup(ctx, kid)
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(key.public), nil
}

// tokenError turns a parse failure into an Unauthenticated error whose
// message names the failed check without echoing the token.
func tokenError(err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	msg := "invalid token"
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		msg = "token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		msg = "token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		msg = "token is for another audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		msg = "token has the wrong issuer"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		msg = "token signature is invalid"
	case errors.Is(err, jwt.ErrTokenMalformed):
		msg = "token is malformed"
	}
	return errs.Wrap(errs.Unauthenticated, err, msg)
}
