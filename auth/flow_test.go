package auth

import (
	"testing"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

func TestAssessmentFlow(t *testing.T) {
	backends(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		access, _ := e.mustLogin("Owner@Acme.example")

		who := e.do("GET", "/api/v1/whoami", access, nil)
		wantStatus(t, "recruiter route with recruiter token", who, 200)

		inv := e.mustInvite(access, e.asm.ID)
		if len(inv.InviteToken) < 43 {
			t.Errorf("invite token %d characters, want at least 43 (256 bits)", len(inv.InviteToken))
		}
		if want := "https://localhost:8443/invite#" + inv.InviteToken; inv.InviteURL != want {
			t.Errorf("invite url = %q, want %q", inv.InviteURL, want)
		}

		r := e.exchange(inv.InviteToken)
		wantStatus(t, "exchange", r, 200)
		var er ExchangeResponse
		r.json(t, &er)
		if er.TokenType != "Bearer" || er.IssuedTokenType != TokenTypeAccess || er.ExpiresIn != 900 {
			t.Errorf("exchange response = %+v", er)
		}
		if n := e.audit.count(audit.KindSubmissionOpened); n != 1 {
			t.Errorf("submission.opened events = %d, want 1", n)
		}

		r = e.do("GET", "/api/v1/session", er.AccessToken, nil)
		wantStatus(t, "session", r, 200)
		var sess Session
		r.json(t, &sess)
		if sess.SubmissionID != inv.SubmissionID || sess.State != store.StateOpen ||
			sess.TaskName != "rle" || sess.DeadlineAt == nil {
			t.Errorf("session = %+v", sess)
		}

		r = e.do("GET", "/api/v1/session", "", nil, "X-Api-Key", er.AccessToken)
		wantStatus(t, "session with x-api-key", r, 200)

		r = e.postForm("/oauth/token", tokenForm(er.AccessToken, TokenTypeAccess))
		wantStatus(t, "candidate token renewal", r, 200)
		var renewed ExchangeResponse
		r.json(t, &renewed)
		wantStatus(t, "renewed token works", e.do("GET", "/api/v1/session", renewed.AccessToken, nil), 200)
	})
}
