package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

// provider is an OpenID Connect provider for tests: go-oidc's own test
// server for discovery and keys, plus a token endpoint that checks PKCE
// and answers with an ID token whose claims the test chooses. A real
// identity provider cannot run here; this one stands in for it.
type provider struct {
	srv  *httptest.Server
	priv *rsa.PrivateKey

	mu        sync.Mutex
	challenge string // from the last authorize URL
	nonce     string
	claims    func(iss, nonce string) map[string]any
}

func newProvider(t *testing.T) *provider {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{priv: priv}
	disc := &oidctest.Server{PublicKeys: []oidctest.PublicKey{
		{PublicKey: priv.Public(), KeyID: "idp-key", Algorithm: oidc.RS256}}}
	mux := http.NewServeMux()
	mux.Handle("/", disc)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	disc.SetIssuer(p.srv.URL)
	return p
}

func (p *provider) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.FormValue("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != p.challenge || r.FormValue("code") != "the-code" {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	claims, _ := json.Marshal(p.claims(p.srv.URL, p.nonce))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer",
		"id_token": oidctest.SignIDToken(p.priv, "idp-key", oidc.RS256, string(claims))})
}

func goodClaims(email string) func(iss, nonce string) map[string]any {
	return func(iss, nonce string) map[string]any {
		return map[string]any{"iss": iss, "aud": "devmesh-client", "sub": "idp-user",
			"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
			"nonce": nonce, "email": email, "email_verified": true}
	}
}

// oidcServer is the service with single sign-on enabled against p.
func oidcServer(t *testing.T, e *env, p *provider) *httptest.Server {
	err := e.svc.EnableOIDC(t.Context(), OIDCConfig{Issuer: p.srv.URL, ClientID: "devmesh-client",
		ClientSecret: secret.New("client-secret"), RedirectURL: "https://devmesh.example/api/v1/oidc/callback"})
	if err != nil {
		t.Fatal(err)
	}
	s := server.New(e.logger(), e.svc)
	s.Handle(e.svc.Routes()...)
	s.Handle(server.Route{Pattern: "GET /api/v1/whoami", Audience: server.Recruiter,
		Handler: func(w http.ResponseWriter, r *http.Request) error { return nil }})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// start begins a sign-in and returns the sealed cookie and the state; the
// provider learns the PKCE challenge and nonce, as from a browser redirect.
func start(t *testing.T, srv *httptest.Server, p *provider) (*http.Cookie, string) {
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Get(srv.URL + "/api/v1/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), p.srv.URL+"/auth") {
		t.Fatalf("login: status %d location %q", resp.StatusCode, loc)
	}
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" {
		t.Fatalf("authorize url lacks PKCE or nonce: %s", loc)
	}
	p.mu.Lock()
	p.challenge, p.nonce = q.Get("code_challenge"), q.Get("nonce")
	p.mu.Unlock()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == oidcCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || !cookie.Secure {
		t.Fatalf("sign-in cookie %+v, want HttpOnly and Secure", cookie)
	}
	return cookie, q.Get("state")
}

func callback(t *testing.T, srv *httptest.Server, cookie *http.Cookie, state string) response {
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/oidc/callback?code=the-code&state="+url.QueryEscape(state), nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

func TestOIDCSignIn(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	p := newProvider(t)
	srv := oidcServer(t, e, p)
	_, disabled := e.account("Acme", "off@acme.example", store.RoleAdmin)
	if err := e.svc.SetDisabled(t.Context(), disabled.ID, true); err != nil {
		t.Fatal(err)
	}

	p.claims = goodClaims("OWNER@acme.example")
	cookie, state := start(t, srv, p)
	r := callback(t, srv, cookie, state)
	wantStatus(t, "sign-in of an existing account", r, 200)
	var tr TokenResponse
	r.json(t, &tr)
	p2, err := e.svc.AuthenticateRecruiter(t.Context(), tr.AccessToken)
	if err != nil || p2.Subject != e.owner.ID {
		t.Fatalf("sso token: %+v, %v", p2, err)
	}

	tests := []struct {
		name   string
		claims func(iss, nonce string) map[string]any
		mangle func(c *http.Cookie, state string) (*http.Cookie, string)
	}{
		{"an unknown email creates no account", goodClaims("new@acme.example"), nil},
		{"a disabled account", goodClaims("off@acme.example"), nil},
		{"an unverified email", func(iss, nonce string) map[string]any {
			c := goodClaims(e.owner.Email)(iss, nonce)
			c["email_verified"] = false
			return c
		}, nil},
		{"another nonce", func(iss, _ string) map[string]any {
			return goodClaims(e.owner.Email)(iss, "replayed")
		}, nil},
		{"another audience", func(iss, nonce string) map[string]any {
			c := goodClaims(e.owner.Email)(iss, nonce)
			c["aud"] = "someone-else"
			return c
		}, nil},
		{"another issuer", func(_, nonce string) map[string]any {
			return goodClaims(e.owner.Email)("https://evil.example", nonce)
		}, nil},
		{"a mismatched state", goodClaims(e.owner.Email), func(c *http.Cookie, s string) (*http.Cookie, string) {
			return c, s + "x"
		}},
		{"no cookie", goodClaims(e.owner.Email), func(_ *http.Cookie, s string) (*http.Cookie, string) {
			return nil, s
		}},
		{"a forged cookie", goodClaims(e.owner.Email), func(c *http.Cookie, s string) (*http.Cookie, string) {
			f := *c
			f.Value = base64.RawURLEncoding.EncodeToString(make([]byte, 64))
			return &f, s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.claims = tt.claims
			cookie, state := start(t, srv, p)
			if tt.mangle != nil {
				cookie, state = tt.mangle(cookie, state)
			}
			wantStatus(t, tt.name, callback(t, srv, cookie, state), 401)
		})
	}
	if _, err := e.db.RecruiterByEmail(t.Context(), "new@acme.example"); err == nil {
		t.Error("single sign-on created an account")
	}

	p.claims = goodClaims(e.owner.Email)
	cookie, state = start(t, srv, p)
	e.clock.Add(oidcAttemptTTL + time.Second)
	wantStatus(t, "an expired attempt", callback(t, srv, cookie, state), 401)
}
