package auth

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

func (e *env) submissionState(id string) string {
	e.t.Helper()
	s, err := e.db.SubmissionByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s.State
}

func wantOAuthError(t *testing.T, what string, r response, code string) {
	t.Helper()
	wantStatus(t, what, r, 400)
	var b map[string]string
	r.json(t, &b)
	if b["error"] != code || b["error_description"] == "" {
		t.Fatalf("%s: body %s, want error %q with a description", what, r.body, code)
	}
}

func TestInviteIsSingleUse(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		access, _ := e.mustLogin(e.owner.Email)
		inv := e.mustInvite(access, e.asm.ID)
		wantStatus(t, "first exchange", e.exchange(inv.InviteToken), 200)
		wantOAuthError(t, "second exchange", e.exchange(inv.InviteToken), "invalid_grant")
		if n := e.audit.count(audit.KindSubmissionOpened); n != 1 {
			t.Errorf("submission.opened events = %d, want 1", n)
		}
	})
}

func TestRacingExchangesOneWins(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		access, _ := e.mustLogin(e.owner.Email)
		inv := e.mustInvite(access, e.asm.ID)
		const racers = 8
		var wg sync.WaitGroup
		statuses := make(chan int, racers)
		for range racers {
			wg.Go(func() { statuses <- e.exchange(inv.InviteToken).status })
		}
		wg.Wait()
		close(statuses)
		wins := 0
		for s := range statuses {
			switch s {
			case 200:
				wins++
			case 400:
			default:
				t.Errorf("racing exchange: status %d, want 200 or 400", s)
			}
		}
		if wins != 1 {
			t.Fatalf("%d of %d racing exchanges won, want exactly 1", wins, racers)
		}
		if n := e.audit.count(audit.KindSubmissionOpened); n != 1 {
			t.Errorf("submission.opened events = %d, want 1", n)
		}
	})
}

func TestUnusableInvites(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		access, _ := e.mustLogin(e.owner.Email)

		// An invite made 8 days ago with the default 7-day lifetime.
		e.clock.Add(-8 * 24 * time.Hour)
		old, _ := e.mustLogin(e.owner.Email)
		expired := e.mustInvite(old, e.asm.ID)
		e.clock.Add(8 * 24 * time.Hour)
		wantOAuthError(t, "expired invite", e.exchange(expired.InviteToken), "invalid_grant")
		if s := e.submissionState(expired.SubmissionID); s != store.StateInvited {
			t.Errorf("expired invite left state %q, want invited", s)
		}

		deleted := e.mustInvite(access, e.asm.ID)
		if err := e.db.DeleteAssessment(t.Context(), e.org.ID, e.asm.ID); err != nil {
			t.Fatal(err)
		}
		wantOAuthError(t, "invite of a deleted assessment", e.exchange(deleted.InviteToken), "invalid_grant")
		if s := e.submissionState(deleted.SubmissionID); s != store.StateInvited {
			t.Errorf("deleted assessment's invite left state %q, want invited", s)
		}

		wantOAuthError(t, "unknown invite", e.exchange("not-an-invite"), "invalid_grant")
		wantOAuthError(t, "a submission id as invite", e.exchange(deleted.SubmissionID), "invalid_grant")
		if n := e.audit.count(audit.KindSubmissionOpened); n != 0 {
			t.Errorf("refused exchanges appended %d submission.opened events", n)
		}
	})
}

func TestInvitePermissions(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		e.account("Acme", "viewer@acme.example", store.RoleViewer)
		e.account("Acme", "rec@acme.example", store.RoleRecruiter)
		e.account("Acme", "admin@acme.example", store.RoleAdmin)
		otherOrg, _ := e.account("Other", "owner@other.example", store.RoleOwner)
		otherAsm := e.assessment(otherOrg.ID)

		tests := []struct {
			name, email, asm string
			want             int
		}{
			{"owner invites", e.owner.Email, e.asm.ID, 201},
			{"admin invites", "admin@acme.example", e.asm.ID, 201},
			{"recruiter invites", "rec@acme.example", e.asm.ID, 201},
			{"viewer may not invite", "viewer@acme.example", e.asm.ID, 403},
			{"another organisation's assessment is not found", e.owner.Email, otherAsm.ID, 404},
			{"another organisation's owner cannot see ours", "owner@other.example", e.asm.ID, 404},
			{"an unknown assessment is not found", e.owner.Email, "asm_nope", 404},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				access, _ := e.mustLogin(tt.email)
				r := e.postJSON("/api/v1/assessments/"+tt.asm+"/invitations", access,
					map[string]string{"email": "cand@example.com"})
				wantStatus(t, tt.name, r, tt.want)
			})
		}
		subs, _ := e.db.Submissions(t.Context(), otherOrg.ID, otherAsm.ID)
		mine, _ := e.db.Submissions(t.Context(), e.org.ID, e.asm.ID)
		if len(subs) != 0 || len(mine) != 3 {
			t.Errorf("submissions: other org %d, ours %d; want 0 and 3", len(subs), len(mine))
		}
	})
}

func TestInvitePageConsumesNothing(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	access, _ := e.mustLogin(e.owner.Email)
	inv := e.mustInvite(access, e.asm.ID)
	for range 3 {
		r := e.do("GET", "/invite?token="+url.QueryEscape(inv.InviteToken), "", nil)
		wantStatus(t, "invite page", r, 200)
		if !strings.Contains(string(r.body), `value="`+inv.InviteToken+`"`) {
			t.Fatalf("invite page does not carry the token in its form: %s", r.body)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("invite page CSP = %q", csp)
		}
	}
	wantStatus(t, "invite script", e.do("GET", "/invite.js", "", nil), 200)
	if s := e.submissionState(inv.SubmissionID); s != store.StateInvited {
		t.Fatalf("after GETs the submission is %q, want invited", s)
	}
	wantStatus(t, "exchange after viewing the page", e.exchange(inv.InviteToken), 200)

	r := e.do("GET", "/invite?token="+url.QueryEscape(`"><script>alert(1)</script>`), "", nil)
	if strings.Contains(string(r.body), "<script>alert") {
		t.Errorf("invite page reflects markup unescaped: %s", r.body)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	access, _ := e.mustLogin(e.owner.Email)
	inv := e.mustInvite(access, e.asm.ID)
	form := func(mut func(url.Values)) url.Values {
		f := tokenForm(inv.InviteToken, TokenTypeInvite)
		mut(f)
		return f
	}
	tests := []struct {
		name string
		form url.Values
		code string
	}{
		{"password grant", form(func(f url.Values) { f.Set("grant_type", "password") }), "unsupported_grant_type"},
		{"no grant type", form(func(f url.Values) { f.Del("grant_type") }), "unsupported_grant_type"},
		{"no subject token", form(func(f url.Values) { f.Del("subject_token") }), "invalid_request"},
		{"unknown subject token type", form(func(f url.Values) { f.Set("subject_token_type", "urn:x") }), "invalid_request"},
		{"repeated parameter", form(func(f url.Values) { f.Add("subject_token", "again") }), "invalid_request"},
		{"other requested token type", form(func(f url.Values) { f.Set("requested_token_type", "urn:x") }), "invalid_request"},
		{"a recruiter token as candidate token", tokenForm(access, TokenTypeAccess), "invalid_grant"},
		{"an invite as candidate token", tokenForm(inv.InviteToken, TokenTypeAccess), "invalid_grant"},
		{"a 1 MiB subject token", tokenForm(strings.Repeat("a", 1<<20), TokenTypeInvite), "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.postForm("/oauth/token", tt.form)
			if tt.name == "a 1 MiB subject token" {
				if r.status != 413 && r.status != 400 {
					t.Fatalf("status %d, want 400 or 413", r.status)
				}
				return
			}
			wantOAuthError(t, tt.name, r, tt.code)
		})
	}
	r := e.postJSON("/oauth/token", "", map[string]string{"grant_type": GrantTokenExchange})
	wantOAuthError(t, "a JSON body", r, "invalid_request")
	if s := e.submissionState(inv.SubmissionID); s != store.StateInvited {
		t.Fatalf("after refused requests the submission is %q, want invited", s)
	}
}

func TestExchangeNeedsTheAuditLog(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	access, _ := e.mustLogin(e.owner.Email)
	inv := e.mustInvite(access, e.asm.ID)
	e.audit.fail = errors.New("log is down")
	r := e.exchange(inv.InviteToken)
	wantStatus(t, "exchange with the log down", r, 503)
	if strings.Contains(string(r.body), "log is down") || strings.Contains(string(r.body), "access_token") {
		t.Errorf("body leaks the cause or a token: %s", r.body)
	}
}

func TestSessionLengthLookup(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	e := newEnvWith(t, db, func(*Config) {})
	var asked store.Submission
	svc, err := New(t.Context(), Deps{DB: db, MasterKey: e.master, Audit: e.audit, Now: e.clock.Now,
		Hasher: e.hasher, SessionLength: func(_ context.Context, s store.Submission) (time.Duration, error) {
			asked = s
			return 42 * time.Minute, nil
		}}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	access, _ := e.mustLogin(e.owner.Email)
	inv := e.mustInvite(access, e.asm.ID)
	sub, err := svc.openInvite(t.Context(), inv.InviteToken)
	if err != nil {
		t.Fatal(err)
	}
	if asked.ID != inv.SubmissionID || asked.AssessmentID != e.asm.ID {
		t.Errorf("lookup asked about %+v, want submission %s of %s", asked, inv.SubmissionID, e.asm.ID)
	}
	if d := sub.DeadlineAt.Sub(*sub.OpenedAt); d != 42*time.Minute {
		t.Errorf("session length = %s, want 42m", d)
	}
}
