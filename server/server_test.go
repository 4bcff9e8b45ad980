package server

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

// tokenAuth is a test authenticator: "Bearer rec-<role>" is a recruiter
// of org-1 with that role, "Bearer cand" a candidate of sub-1.
type tokenAuth struct{}

func (tokenAuth) Authenticate(r *http.Request, aud Audience) (Principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok:
		return Principal{}, errs.E(errs.Unauthenticated, "missing bearer token")
	case strings.HasPrefix(tok, "rec-"):
		return Principal{Audience: Recruiter, Subject: "rec_1", OrgID: "org-1",
			Role: strings.TrimPrefix(tok, "rec-")}, nil
	case tok == "cand":
		return Principal{Audience: Candidate, Subject: "sub-1", SubmissionID: "sub-1"}, nil
	}
	return Principal{}, errs.E(errs.Unauthenticated, "unknown token")
}

type echoReq struct {
	Name string `json:"name"`
}

func newTestServer(t *testing.T, logs *bytes.Buffer) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var bodyReads atomic.Int32
	s := New(slog.New(slog.NewJSONHandler(logs, nil)), tokenAuth{})
	s.Handle(
		Route{Pattern: "POST /echo", Audience: Recruiter, Roles: []string{"owner", "admin"},
			MaxBody: 64, Handler: func(w http.ResponseWriter, r *http.Request) error {
				bodyReads.Add(1)
				var req echoReq
				if err := DecodeJSON(r, &req); err != nil {
					return err
				}
				return WriteJSON(w, http.StatusOK, req)
			}},
		Route{Pattern: "GET /boom", Audience: Public, Handler: func(w http.ResponseWriter, r *http.Request) error {
			return errors.New("database password is hunter2")
		}},
	)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, &bodyReads
}

func do(t *testing.T, ts *httptest.Server, method, path, token, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m, resp.Header
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func TestRouteRefusalsHappenBeforeTheBodyIsRead(t *testing.T) {
	var logs bytes.Buffer
	ts, reads := newTestServer(t, &logs)
	tests := []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"unknown token", "forged", http.StatusUnauthorized},
		{"candidate on a recruiter route", "cand", http.StatusUnauthorized},
		{"role not allowed", "rec-viewer", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := do(t, ts, "POST", "/echo", tt.token, `{"name":"x"}`)
			if status != tt.want {
				t.Fatalf("status = %d, want %d (%v)", status, tt.want, body)
			}
		})
	}
	if n := reads.Load(); n != 0 {
		t.Fatalf("handler ran %d times for refused callers, want 0", n)
	}
}

func TestBadBodiesNameWhatIsWrong(t *testing.T) {
	var logs bytes.Buffer
	ts, _ := newTestServer(t, &logs)
	tests := []struct {
		name, body string
		status     int
		mention    string
	}{
		{"malformed JSON", `{"name":`, 400, "unexpected end"},
		{"unknown field", `{"name":"x","admin":true}`, 400, `"admin"`},
		{"wrong type", `{"name":7}`, 400, `field "name"`},
		{"trailing data", `{"name":"x"}{}`, 400, "trailing data"},
		{"empty body", ``, 400, "empty"},
		{"oversized body", `{"name":"` + strings.Repeat("a", 100) + `"}`, 413, "larger than 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := do(t, ts, "POST", "/echo", "rec-owner", tt.body)
			if status != tt.status || !strings.Contains(errMessage(body), tt.mention) {
				t.Fatalf("got %d %q, want %d mentioning %q", status, errMessage(body), tt.status, tt.mention)
			}
		})
	}
	status, body, _ := do(t, ts, "POST", "/echo", "rec-owner", `{"name":"ok"}`)
	if status != 200 || body["name"] != "ok" {
		t.Fatalf("valid request: %d %v", status, body)
	}
}

func TestServerErrorsHideTheCauseAndCarryARequestID(t *testing.T) {
	var logs bytes.Buffer
	ts, _ := newTestServer(t, &logs)
	status, body, hdr := do(t, ts, "GET", "/boom", "", "")
	if status != 500 {
		t.Fatalf("status = %d, want 500", status)
	}
	e := body["error"].(map[string]any)
	if e["message"] != "Internal Server Error" || errCode(body) != "internal" {
		t.Fatalf("body = %v, want only the status text", body)
	}
	id, _ := e["request_id"].(string)
	if id == "" || hdr.Get("X-Request-Id") != id {
		t.Fatalf("request id %q, header %q: want the same non-empty id", id, hdr.Get("X-Request-Id"))
	}
	if !strings.Contains(logs.String(), id) || !strings.Contains(logs.String(), "hunter2") {
		t.Fatalf("the cause must reach the log under the request id; logs:\n%s", logs.String())
	}
}

func TestEveryResponseCarriesSecurityHeadersAndOneAccessRecord(t *testing.T) {
	var logs bytes.Buffer
	ts, _ := newTestServer(t, &logs)
	_, _, hdr := do(t, ts, "POST", "/echo", "rec-owner", `{"name":"x"}`)
	if !strings.HasPrefix(hdr.Get("Strict-Transport-Security"), "max-age=") || hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("missing security headers: %v", hdr)
	}
	n := strings.Count(logs.String(), `"msg":"http request"`)
	if n != 1 {
		t.Fatalf("%d access records for one request, want 1:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "rec-owner") {
		t.Fatal("the access log contains the bearer token")
	}
}

func TestStatusTable(t *testing.T) {
	tests := []struct {
		kind errs.Kind
		want int
	}{
		{errs.Invalid, 400}, {errs.Unauthenticated, 401}, {errs.Forbidden, 403},
		{errs.NotFound, 404}, {errs.Conflict, 409}, {errs.TooLarge, 413},
		{errs.Exhausted, 429}, {errs.Unavailable, 503}, {errs.Internal, 500},
	}
	for _, tt := range tests {
		if got := Status(errs.E(tt.kind, "x")); got != tt.want {
			t.Errorf("Status(%v) = %d, want %d", tt.kind, got, tt.want)
		}
	}
	if got := Status(errors.New("plain")); got != 500 {
		t.Errorf("Status(plain error) = %d, want 500", got)
	}
}

func TestTLSPolicyRefusesTLS11(t *testing.T) {
	dir := t.TempDir()
	cert, created, err := LoadOrCreateCert(dir+"/c.pem", dir+"/k.pem", []string{"127.0.0.1"}, time.Now())
	if err != nil || !created {
		t.Fatalf("LoadOrCreateCert = %v, %v", created, err)
	}
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.TLS = TLSConfig(cert)
	ts.StartTLS()
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "https://")
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v})
		if err == nil {
			c.Close()
			t.Fatalf("handshake at TLS version %x succeeded, want refusal", v)
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 handshake: %v", err)
	}
	c.Close()
	_, created, err = LoadOrCreateCert(dir+"/c.pem", dir+"/k.pem", []string{"127.0.0.1"}, time.Now())
	if err != nil || created {
		t.Fatalf("second LoadOrCreateCert created=%v err=%v, want reuse", created, err)
	}
}
