package auth

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

// errorOf returns the error body without its per-request id.
func errorOf(t *testing.T, r response) string {
	t.Helper()
	var b struct {
		Error struct{ Code, Message, RequestID string } `json:"error"`
	}
	r.json(t, &b)
	return b.Error.Code + ": " + b.Error.Message
}

func (e *env) countRows(table string) int {
	e.t.Helper()
	var n int
	if err := e.db.SQL.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestLoginDoesNotRevealAccounts(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		_, disabled := e.account("Acme", "gone@acme.example", store.RoleRecruiter)
		if err := e.svc.SetDisabled(t.Context(), disabled.ID, true); err != nil {
			t.Fatal(err)
		}
		ref := e.login(e.owner.Email, "wrong password")
		wantStatus(t, "wrong password", ref, 401)
		want := errorOf(t, ref)

		tests := []struct{ name, email, password string }{
			{"unknown email", "nobody@acme.example", "wrong password"},
			{"unknown email with the owner's password", "nobody@acme.example", ownerPassword},
			{"malformed email", "not an email", ownerPassword},
			{"disabled account with its right password", "gone@acme.example", ownerPassword},
			{"empty password", e.owner.Email, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := e.hasher.verifies.Load()
				r := e.login(tt.email, tt.password)
				wantStatus(t, tt.name, r, 401)
				if got := errorOf(t, r); got != want {
					t.Errorf("body %q, want the wrong-password body %q", got, want)
				}
				if got, want := r.header.Get("WWW-Authenticate"), ref.header.Get("WWW-Authenticate"); got != want {
					t.Errorf("WWW-Authenticate %q, want %q", got, want)
				}
				if n := e.hasher.verifies.Load() - before; n != 1 {
					t.Errorf("argon2id verifications = %d, want 1 (same work as a wrong password)", n)
				}
			})
		}
		if n := e.countRows("token_families"); n != 0 {
			t.Errorf("failed sign-ins created %d sign-ins, want 0", n)
		}
	})
}

func TestLoginRateLimits(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		burst := DefaultConfig().LoginPerAccount.Burst
		for i := range burst {
			wantStatus(t, "attempt "+strconv.Itoa(i+1), e.login(e.owner.Email, "guess"), 401)
		}
		before := e.hasher.verifies.Load()
		r := e.login(e.owner.Email, ownerPassword)
		wantStatus(t, "right password after the burst", r, 429)
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 60 {
			t.Errorf("Retry-After = %q, want 1..60 seconds", r.header.Get("Retry-After"))
		}
		if n := e.hasher.verifies.Load() - before; n != 0 {
			t.Errorf("a limited attempt did %d argon2id verifications, want 0", n)
		}
		if n := e.countRows("token_families"); n != 0 {
			t.Errorf("limited sign-in created %d sign-ins, want 0", n)
		}

		// An unknown email is limited exactly like a known one.
		for range burst {
			e.login("nobody@acme.example", "guess")
		}
		r2 := e.login("nobody@acme.example", "guess")
		wantStatus(t, "unknown email after the burst", r2, 429)
		if errorOf(t, r2) != errorOf(t, r) {
			t.Errorf("limited unknown email body %s, want %s", r2.body, r.body)
		}

		e.clock.Add(time.Duration(secs) * time.Second)
		wantStatus(t, "after Retry-After", e.login(e.owner.Email, ownerPassword), 200)
	})
}

func TestLoginRateLimitPerAddress(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	burst := DefaultConfig().LoginPerIP.Burst
	for i := range burst {
		e.login("user"+strconv.Itoa(i)+"@acme.example", "guess")
	}
	r := e.login("fresh@acme.example", "guess")
	wantStatus(t, "a new account from a spent address", r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After header")
	}
}

func TestRefreshTokensRotate(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		_, refresh := e.mustLogin(e.owner.Email)

		r := e.postJSON("/api/v1/token/refresh", "", map[string]string{"refresh_token": refresh})
		wantStatus(t, "first refresh", r, 200)
		var next TokenResponse
		r.json(t, &next)
		if next.RefreshToken == refresh || next.AccessToken == "" {
			t.Fatalf("refresh returned %+v; want a new refresh token and an access token", next)
		}
		wantStatus(t, "refreshed access token", e.do("GET", "/api/v1/whoami", next.AccessToken, nil), 200)

		// Presenting the spent token again means it was copied: the whole
		// sign-in ends, including the tokens rotated from it.
		r = e.postJSON("/api/v1/token/refresh", "", map[string]string{"refresh_token": refresh})
		wantStatus(t, "reused refresh token", r, 401)
		wantStatus(t, "rotated refresh token after reuse",
			e.postJSON("/api/v1/token/refresh", "", map[string]string{"refresh_token": next.RefreshToken}), 401)
		wantStatus(t, "access token after reuse", e.do("GET", "/api/v1/whoami", next.AccessToken, nil), 401)
	})
}

func TestRefreshTokenExpires(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	_, refresh := e.mustLogin(e.owner.Email)
	e.clock.Add(DefaultConfig().RefreshTTL + time.Second)
	wantStatus(t, "expired refresh token",
		e.postJSON("/api/v1/token/refresh", "", map[string]string{"refresh_token": refresh}), 401)
	wantStatus(t, "unknown refresh token",
		e.postJSON("/api/v1/token/refresh", "", map[string]string{"refresh_token": "nope"}), 401)
}

func TestRevocation(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		tests := []struct {
			name   string
			revoke func(e *env, refresh string)
		}{
			{"logout", func(e *env, refresh string) {
				r := e.postJSON("/api/v1/logout", "", map[string]string{"refresh_token": refresh})
				wantStatus(t, "logout", r, 204)
			}},
			{"password change", func(e *env, _ string) {
				if err := e.svc.SetPassword(t.Context(), e.owner.ID, "a new password"); err != nil {
					t.Fatal(err)
				}
			}},
			{"disabling the account", func(e *env, _ string) {
				if err := e.svc.SetDisabled(t.Context(), e.owner.ID, true); err != nil {
					t.Fatal(err)
				}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := newEnv(t, b)
				access, refresh := e.mustLogin(e.owner.Email)
				other, _ := e.mustLogin(e.owner.Email) // a second sign-in
				wantStatus(t, "before", e.do("GET", "/api/v1/whoami", access, nil), 200)
				tt.revoke(e, refresh)
				wantStatus(t, "access token after "+tt.name, e.do("GET", "/api/v1/whoami", access, nil), 401)
				wantStatus(t, "refresh token after "+tt.name,
					e.postJSON("/api/v1/token/refresh", "", map[string]string{"refresh_token": refresh}), 401)
				status := e.do("GET", "/api/v1/whoami", other, nil).status
				if tt.name == "logout" && status != 200 {
					t.Errorf("logout ended the other sign-in too: status %d", status)
				}
				if tt.name != "logout" && status != 401 {
					t.Errorf("%s left another sign-in working: status %d", tt.name, status)
				}
			})
		}
	})
}

func TestPasswordChange(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	if err := e.svc.SetPassword(t.Context(), e.owner.ID, "a new password"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "old password", e.login(e.owner.Email, ownerPassword), 401)
	wantStatus(t, "new password", e.login(e.owner.Email, "a new password"), 200)
}

func TestRoleComesFromTheAccount(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		access, _ := e.mustLogin(e.owner.Email)
		_, err := e.db.SQL.Exec(e.db.Rebind(`UPDATE recruiters SET role = ? WHERE id = ?`),
			store.RoleViewer, e.owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", "/api/v1/whoami", access, nil)
		wantStatus(t, "whoami", r, 200)
		var p struct{ Role string }
		if err := json.Unmarshal(r.body, &p); err != nil || p.Role != store.RoleViewer {
			t.Errorf("role after demotion = %q (%v), want viewer", p.Role, err)
		}
		r = e.postJSON("/api/v1/assessments/"+e.asm.ID+"/invitations", access,
			map[string]string{"email": "c@example.com"})
		wantStatus(t, "demoted owner invites", r, 403)
	})
}

func TestDisabledAccountIsRefusedEvenWithoutRevocation(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		access, refresh := e.mustLogin(e.owner.Email)
		// Disabled behind the service's back (say, by an operator in SQL):
		// no sign-in was revoked, yet the account's tokens must stop.
		_, err := e.db.SQL.Exec(e.db.Rebind(`UPDATE recruiters SET disabled = ? WHERE id = ?`),
			true, e.owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "access token", e.do("GET", "/api/v1/whoami", access, nil), 401)
		wantStatus(t, "refresh token",
			e.postJSON("/api/v1/token/refresh", "", map[string]string{"refresh_token": refresh}), 401)
	})
}
