package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

// forgery describes a token built by hand: its header, its claims and
// how it is signed. The zero mutations give a token the service accepts,
// so each attack differs from an accepted token in one respect only.
type forgery struct {
	method jwt.SigningMethod
	key    any
	header map[string]any
	claims jwt.MapClaims
}

// validForgery returns a forgery of a valid token of kind k with the
// claims of tok (a token the service issued), signed by the current key.
func validForgery(t *testing.T, e *env, tok string, k kind) *forgery {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	key, err := e.svc.keys.current()
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = now.Add(10 * time.Minute).Unix()
	return &forgery{method: jwt.SigningMethodEdDSA, key: key.private,
		header: map[string]any{"typ": k.typ, "kid": key.kid}, claims: claims}
}

func (f *forgery) sign(t *testing.T) string {
	t.Helper()
	tok := jwt.NewWithClaims(f.method, f.claims)
	for k, v := range f.header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(f.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestForgedTokensAreRejected(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		access, _ := e.mustLogin(e.owner.Email)
		cand, _ := e.mustCandidate()
		current, _ := e.svc.keys.current()
		_, stranger, _ := ed25519.GenerateKey(rand.Reader)

		tests := []struct {
			name   string
			route  string // recruiter or candidate route to call
			base   string
			kind   kind
			mutate func(f *forgery)
			want   int
		}{
			{"a valid forgery is accepted (control)", "/api/v1/whoami", access, recruiterKind,
				func(f *forgery) {}, 200},
			{"a valid candidate forgery is accepted (control)", "/api/v1/session", cand, candidateKind,
				func(f *forgery) {}, 200},
			{"alg none is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.method, f.key = jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType
			}, 401},
			{"HS256 keyed with the public key is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.method, f.key = jwt.SigningMethodHS256, []byte(current.public)
			}, 401},
			{"a key we never issued is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.key, f.header["kid"] = stranger, "k_"+strings.Repeat("a", 26)
			}, 401},
			{"a kid with path characters is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.header["kid"] = "../../" + current.kid
			}, 401},
			{"a missing kid is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				delete(f.header, "kid")
			}, 401},
			{"a signature by another key under our kid is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.key = stranger
			}, 401},
			{"an expired token is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				now := e.clock.Now()
				f.claims["iat"], f.claims["nbf"] = now.Add(-20*time.Minute).Unix(), now.Add(-20*time.Minute).Unix()
				f.claims["exp"] = now.Add(-5 * time.Minute).Unix()
			}, 401},
			{"a not-yet-valid token is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.claims["nbf"] = e.clock.Now().Add(5 * time.Minute).Unix()
			}, 401},
			{"a token issued in the future is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.claims["iat"] = e.clock.Now().Add(5 * time.Minute).Unix()
			}, 401},
			{"a token without exp is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				delete(f.claims, "exp")
			}, 401},
			{"a token without nbf is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				delete(f.claims, "nbf")
			}, 401},
			{"a token living longer than the maximum is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.claims["exp"] = e.clock.Now().Add(24 * time.Hour).Unix()
			}, 401},
			{"a wrong issuer is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.claims["iss"] = "someone-else"
			}, 401},
			{"a wrong audience is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.claims["aud"] = []string{CandidateAudience}
			}, 401},
			{"a wrong typ is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.header["typ"] = CandidateType
			}, 401},
			{"a plain JWT typ is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.header["typ"] = "JWT"
			}, 401},
			{"a recruiter token without a sign-in is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				delete(f.claims, "sid")
			}, 401},
			{"a recruiter token claiming another account is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.claims["sub"] = "rec_someoneelse"
			}, 401},
			{"a recruiter token claiming another organisation is refused", "/api/v1/whoami", access, recruiterKind, func(f *forgery) {
				f.claims["org"] = "org_other"
			}, 401},
			{"a candidate token for another submission is refused", "/api/v1/session", cand, candidateKind, func(f *forgery) {
				f.claims["submission"], f.claims["sub"] = "sub_other", "sub_other"
			}, 401},
			{"a candidate token whose sub and submission differ is refused", "/api/v1/session", cand, candidateKind, func(f *forgery) {
				f.claims["sub"] = "sub_other"
			}, 401},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := validForgery(t, e, tt.base, tt.kind)
				tt.mutate(f)
				r := e.do("GET", tt.route, f.sign(t), nil)
				wantStatus(t, tt.name, r, tt.want)
			})
		}
	})
}

func TestTokensOnTheWrongRoute(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		access, refresh := e.mustLogin(e.owner.Email)
		cand, sub := e.mustCandidate()

		_, otherSub := e.mustCandidate()
		tests := []struct {
			name, method, path, token string
			header                    []string
			want                      int
		}{
			{"candidate token on a recruiter route", "GET", "/api/v1/whoami", cand, nil, 401},
			{"candidate token on the invite route", "POST", "/api/v1/assessments/" + e.asm.ID + "/invitations", cand, nil, 401},
			{"recruiter token on a candidate route", "GET", "/api/v1/session", access, nil, 401},
			{"recruiter token as x-api-key on a candidate route", "GET", "/api/v1/session", "", []string{"X-Api-Key", access}, 401},
			{"refresh token as a bearer token", "GET", "/api/v1/whoami", refresh, nil, 401},
			{"x-api-key is not read on recruiter routes", "GET", "/api/v1/whoami", "", []string{"X-Api-Key", access}, 401},
			{"two different candidate credentials", "GET", "/api/v1/session", cand, []string{"X-Api-Key", "other"}, 401},
			{"candidate token for submission A on submission B", "GET", "/api/v1/session/submissions/" + otherSub, cand, nil, 404},
			{"candidate token for submission A on submission A", "GET", "/api/v1/session/submissions/" + sub, cand, nil, 200},
			{"truncated token", "GET", "/api/v1/whoami", access[:len(access)-10], nil, 401},
			{"token without its signature", "GET", "/api/v1/whoami", access[:strings.LastIndexByte(access, '.')+1], nil, 401},
			{"1 MiB token", "GET", "/api/v1/whoami", access + strings.Repeat("A", 1<<20), nil, 401},
			{"non-bearer scheme", "GET", "/api/v1/whoami", "", []string{"Authorization", "Basic " + access}, 401},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				body := strings.NewReader(`{"email":"x@example.com"}`)
				h := append([]string{"Content-Type", "application/json"}, tt.header...)
				r := e.do(tt.method, tt.path, tt.token, body, h...)
				wantStatus(t, tt.name, r, tt.want)
			})
		}
		subs, err := e.db.Submissions(t.Context(), e.org.ID, e.asm.ID)
		if err != nil || len(subs) != 2 {
			t.Fatalf("submissions after refused invites = %d, %v; want the 2 made by the owner", len(subs), err)
		}
	})
}

func TestMalformedKidDoesNotReloadKeys(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	access, _ := e.mustLogin(e.owner.Email)
	// Past the reload interval, so an unknown well-formed kid would reload.
	e.clock.Add(DefaultConfig().MinKeyReload + time.Second)
	before := e.svc.keys.reloads()
	for _, kid := range []string{"../etc/passwd", "k_" + strings.Repeat("a", 5000), "k_AAAA", "", "k_a'--"} {
		f := validForgery(t, e, access, recruiterKind)
		f.header["kid"] = kid
		wantStatus(t, "kid "+kid[:min(len(kid), 20)], e.do("GET", "/api/v1/whoami", f.sign(t), nil), 401)
	}
	if got := e.svc.keys.reloads(); got != before {
		t.Errorf("malformed kids caused %d reloads, want 0", got-before)
	}
}

func TestUnknownKidFloodReloadsAtMostOncePerInterval(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	access, _ := e.mustLogin(e.owner.Email)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	before := e.svc.keys.reloads()
	for i := range 50 {
		f := validForgery(t, e, access, recruiterKind)
		f.key, f.header["kid"] = stranger, "k_"+strings.Repeat(string(rune('a'+i%26)), 26)
		wantStatus(t, "unknown kid", e.do("GET", "/api/v1/whoami", f.sign(t), nil), 401)
	}
	if got := e.svc.keys.reloads() - before; got > 1 {
		t.Errorf("50 unknown kids within one interval caused %d reloads, want at most 1", got)
	}
	e.clock.Add(DefaultConfig().MinKeyReload + time.Second)
	f := validForgery(t, e, access, recruiterKind)
	f.key, f.header["kid"] = stranger, "k_"+strings.Repeat("z", 26)
	e.do("GET", "/api/v1/whoami", f.sign(t), nil)
	if got := e.svc.keys.reloads() - before; got > 2 {
		t.Errorf("after the interval: %d reloads, want at most 2", got)
	}
}

func TestCandidateTokenStopsAtSubmit(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		cand, sub := e.mustCandidate()
		wantStatus(t, "before submit", e.do("GET", "/api/v1/session", cand, nil), 200)
		if _, err := e.db.Advance(t.Context(), sub, store.StateOpen, store.StateSubmitted); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "after submit", e.do("GET", "/api/v1/session", cand, nil), 401)
		wantStatus(t, "x-api-key after submit", e.do("GET", "/api/v1/session", "", nil, "X-Api-Key", cand), 401)
		r := e.postForm("/oauth/token", tokenForm(cand, TokenTypeAccess))
		wantStatus(t, "renewal after submit", r, 400)
		if !strings.Contains(string(r.body), `"invalid_grant"`) {
			t.Errorf("renewal after submit: body %s, want invalid_grant", r.body)
		}
	})
}
