package runner

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/auth"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

// TestRealCandidateTokenStopsAtSubmit drives runs and submit with a
// candidate token from the real auth service: invite, token exchange,
// run, submit, and then the same token is refused by every route.
func TestRealCandidateTokenStopsAtSubmit(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			svc, err := auth.New(t.Context(), auth.Deps{DB: e.db,
				MasterKey: secret.NewBytes(bytes.Repeat([]byte("k"), auth.MasterKeySize)),
				Audit:     e.log, Log: e.logger, Hasher: auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1})},
				auth.DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			s := server.New(e.logger, svc)
			s.Handle(svc.Routes()...)
			s.Handle(e.api.Routes()...)
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()

			bundle := sampleTask(t, nil)
			a := e.assessment(bundle)
			cand, sub := realCandidate(t, e, svc, srv.URL, a)
			e.appendStarter(sub, bundle)

			call := func(path string) int {
				req, _ := http.NewRequest("POST", srv.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+cand)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if got := call("/api/v1/session/runs"); got != http.StatusAccepted {
				t.Fatalf("run before submit: status %d, want 202", got)
			}
			if got := call("/api/v1/session/submit"); got != http.StatusOK {
				t.Fatalf("submit: status %d, want 200", got)
			}
			for _, path := range []string{"/api/v1/session/runs", "/api/v1/session/submit"} {
				if got := call(path); got != http.StatusUnauthorized {
					t.Errorf("POST %s after submit: status %d, want 401", path, got)
				}
			}
		})
	}
}

// realCandidate signs in a recruiter, invites a candidate to a and
// exchanges the invite, returning the candidate token and submission.
func realCandidate(t *testing.T, e *env, svc *auth.Service, base string, a store.Assessment) (string, string) {
	t.Helper()
	hash, err := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1}).Hash("a long test password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateRecruiter(t.Context(), e.org.ID, "owner@acme.example", store.RoleOwner, hash); err != nil {
		t.Fatal(err)
	}
	var tok auth.TokenResponse
	postJSON(t, base+"/api/v1/login", "", map[string]string{"email": "owner@acme.example",
		"password": "a long test password"}, &tok)
	var inv auth.Invitation
	postJSON(t, base+"/api/v1/assessments/"+a.ID+"/invitations", tok.AccessToken,
		map[string]string{"email": "cand@example.com"}, &inv)
	form := url.Values{"grant_type": {auth.GrantTokenExchange}, "subject_token": {inv.InviteToken},
		"subject_token_type": {auth.TokenTypeInvite}}
	resp, err := http.Post(base+"/oauth/token", "application/x-www-form-urlencoded",
		strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ex auth.ExchangeResponse
	if err := json.NewDecoder(resp.Body).Decode(&ex); err != nil || ex.AccessToken == "" {
		t.Fatalf("exchange: status %d, %v", resp.StatusCode, err)
	}
	return ex.AccessToken, inv.SubmissionID
}

func postJSON(t *testing.T, u, bearer string, body, out any) {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", u, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: status %d %s", u, resp.StatusCode, got)
	}
	if err := json.Unmarshal(got, out); err != nil {
		t.Fatal(err)
	}
}
