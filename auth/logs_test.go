package auth

import (
	"net/url"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/store/storetest"
)

func TestNoSecretReachesTheLog(t *testing.T) {
	e := newEnv(t, storetest.Backends()[0])
	access, refresh := e.mustLogin(e.owner.Email)
	e.login(e.owner.Email, "a wrong password that must stay private")
	inv := e.mustInvite(access, e.asm.ID)
	e.do("GET", "/invite?token="+url.QueryEscape(inv.InviteToken), "", nil)
	cand, _ := e.mustCandidate()
	e.exchange(inv.InviteToken) // a refused second use, logged at debug
	e.postJSON("/api/v1/token/refresh", "", map[string]string{"refresh_token": refresh})
	e.postJSON("/api/v1/token/refresh", "", map[string]string{"refresh_token": refresh}) // reuse: warned
	e.do("GET", "/api/v1/whoami", access+"x", nil)

	logs := e.logs.String()
	if !strings.Contains(logs, "recruiter signed in") || !strings.Contains(logs, "refresh token reused") {
		t.Fatalf("the log lacks the expected records; is it captured?\n%s", logs)
	}
	for name, s := range map[string]string{"password": ownerPassword,
		"wrong password": "a wrong password that must stay private", "access token": access,
		"refresh token": refresh, "invite": inv.InviteToken, "candidate token": cand,
		"token signature": access[strings.LastIndexByte(access, '.')+1:]} {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s", name)
		}
	}
}
