package auth

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
)

// OIDCConfig enables recruiter sign-in through an OpenID Connect provider
// (authorization code flow with PKCE). A provider identity signs in to the
// existing account with the same verified email; it never creates one.
type OIDCConfig struct {
	Issuer       string // the provider's issuer URL
	ClientID     string
	ClientSecret secret.String
	RedirectURL  string // this server's /api/v1/oidc/callback URL
}

// oidcCookie carries the state of one sign-in attempt between the
// redirect to the provider and the callback, sealed under the master key
// so every replica can read it and nobody can forge or read it.
const (
	oidcCookie     = "devmesh_oidc"
	oidcCookiePath = "/api/v1/oidc/"
	oidcAttemptTTL = 10 * time.Minute
	oidcSealLabel  = "devmesh oidc attempt v1\x00"
)

type oidcLogin struct {
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	aead     cipher.AEAD
}

// oidcAttempt is what the cookie holds.
type oidcAttempt struct {
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	Expires  time.Time `json:"expires"`
}

// EnableOIDC discovers the provider and adds its sign-in routes to
// Routes. Call it before Routes.
func (s *Service) EnableOIDC(ctx context.Context, c OIDCConfig) error {
	if c.ClientID == "" || c.RedirectURL == "" {
		return fmt.Errorf("enable oidc: client id and redirect url are required")
	}
	p, err := oidc.NewProvider(ctx, c.Issuer)
	if err != nil {
		return fmt.Errorf("enable oidc: discover %q: %w", c.Issuer, err)
	}
	s.oidc = &oidcLogin{
		oauth: &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret.Reveal(),
			Endpoint: p.Endpoint(), RedirectURL: c.RedirectURL,
			Scopes: []string{oidc.ScopeOpenID, "email"}},
		verifier: p.Verifier(&oidc.Config{ClientID: c.ClientID, Now: s.now}),
		aead:     s.keys.store.aead,
	}
	return nil
}

func (s *Service) oidcRoutes() []server.Route {
	if s.oidc == nil {
		return nil
	}
	return []server.Route{
		{Pattern: "GET /api/v1/oidc/login", Audience: server.Public, Browser: true, Handler: s.oidcStart},
		{Pattern: "GET /api/v1/oidc/callback", Audience: server.Public, Browser: true, Handler: s.oidcCallback},
	}
}

// oidcStart sends the browser to the provider with a fresh state, nonce
// and PKCE verifier, remembered in a sealed, HttpOnly cookie.
func (s *Service) oidcStart(w http.ResponseWriter, r *http.Request) error {
	a := oidcAttempt{State: randomToken(16), Nonce: randomToken(16),
		Verifier: oauth2.GenerateVerifier(), Expires: s.now().Add(oidcAttemptTTL)}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	nonce := make([]byte, s.oidc.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := s.oidc.aead.Seal(nonce, nonce, b, []byte(oidcSealLabel))
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: base64.RawURLEncoding.EncodeToString(sealed),
		Path: oidcCookiePath, MaxAge: int(oidcAttemptTTL / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	url := s.oidc.oauth.AuthCodeURL(a.State, oidc.Nonce(a.Nonce), oauth2.S256ChallengeOption(a.Verifier))
	http.Redirect(w, r, url, http.StatusFound)
	return nil
}

// errOIDCFailed is the one answer to every failed provider sign-in.
var errOIDCFailed = errs.E(errs.Unauthenticated, "single sign-on failed")

// oidcCallback finishes the flow: the state must match the cookie's, the
// ID token must verify with the cookie's nonce, and its verified email
// must belong to an enabled account.
func (s *Service) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	a, err := s.oidcAttempt(r)
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Path: oidcCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(a.State)) != 1 {
		return errs.E(errs.Unauthenticated, "single sign-on state does not match")
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		return errOIDCFailed
	}
	email, err := s.oidcEmail(r.Context(), q.Get("code"), a)
	if err != nil {
		s.log.InfoContext(r.Context(), "single sign-on refused", "err", err)
		return errOIDCFailed
	}
	rec, err := s.db.RecruiterByEmail(r.Context(), email)
	if err != nil || rec.Disabled {
		// Never create an account: the identity must match an existing one.
		return errOIDCFailed
	}
	family, err := s.startFamily(r.Context(), rec)
	if err != nil {
		return errOIDCFailed
	}
	refresh, err := s.newRefresh(r.Context(), s.db.SQL, family)
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "recruiter signed in with single sign-on",
		"recruiter", rec.ID, "session", family)
	return s.writeTokens(w, rec, family, refresh)
}

func (s *Service) oidcAttempt(r *http.Request) (oidcAttempt, error) {
	var a oidcAttempt
	c, err := r.Cookie(oidcCookie)
	if err != nil {
		return a, errs.E(errs.Unauthenticated, "single sign-on was not started here")
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	n := s.oidc.aead.NonceSize()
	if err != nil || len(b) < n {
		return a, errs.E(errs.Unauthenticated, "single sign-on cookie is malformed")
	}
	plain, err := s.oidc.aead.Open(nil, b[:n], b[n:], []byte(oidcSealLabel))
	if err != nil || json.Unmarshal(plain, &a) != nil {
		return a, errs.E(errs.Unauthenticated, "single sign-on cookie is invalid")
	}
	if !s.now().Before(a.Expires) {
		return a, errs.E(errs.Unauthenticated, "single sign-on attempt expired")
	}
	return a, nil
}

// oidcEmail redeems the code and returns the ID token's verified email.
func (s *Service) oidcEmail(ctx context.Context, code string, a oidcAttempt) (string, error) {
	tok, err := s.oidc.oauth.Exchange(ctx, code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		return "", fmt.Errorf("redeem code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", fmt.Errorf("token response has no id_token")
	}
	idt, err := s.oidc.verifier.Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("verify id token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(a.Nonce)) != 1 {
		return "", fmt.Errorf("id token nonce does not match")
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil {
		return "", fmt.Errorf("read id token claims: %w", err)
	}
	if !claims.EmailVerified {
		return "", fmt.Errorf("email of id token is not verified")
	}
	return store.NormalizeEmail(claims.Email)
}
