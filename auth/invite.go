package auth

import (
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/devmesh/devmesh/server"
)

type inviteRequest struct {
	Email string `json:"email"`
}

// Invitation is the answer to an invite: the submission it created, the
// single-use invite token and the URL to send the candidate. The token is
// shown here once; only its hash is stored.
type Invitation struct {
	SubmissionID string    `json:"submission_id"`
	InviteToken  string    `json:"invite_token"`
	InviteURL    string    `json:"invite_url"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// invite creates a submission of the assessment in the path for the
// candidate in the body. An assessment of another organisation, or a
// deleted one, is not found.
func (s *Service) invite(w http.ResponseWriter, r *http.Request) error {
	p, _ := server.PrincipalFrom(r.Context())
	var req inviteRequest
	if err := server.DecodeJSON(r, &req); err != nil {
		return err
	}
	tok := randomToken(32) // 256 bits: unguessable, so a fast hash suffices
	expires := s.now().UTC().Add(s.cfg.InviteTTL)
	sub, err := s.db.CreateSubmission(r.Context(), p.OrgID, r.PathValue("id"),
		req.Email, hashToken(tok), expires)
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "candidate invited", "submission", sub.ID,
		"assessment", sub.AssessmentID, "recruiter", p.Subject)
	return server.WriteJSON(w, http.StatusCreated, Invitation{SubmissionID: sub.ID,
		InviteToken: tok, InviteURL: s.InviteURL(tok), ExpiresAt: expires})
}

// InviteURL is the link a candidate opens. The token travels in the
// fragment, which browsers never send to a server, so it reaches no
// access log, proxy or Referer header.
func (s *Service) InviteURL(token string) string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + "/invite#" + token
}

// invitePage shows a button that exchanges the invite. Opening the page
// consumes nothing: link scanners and previews that fetch it leave the
// invite intact. A token in ?token= (for mail clients that drop
// fragments) is placed in the form so the exchange works without script.
var invitePage = template.Must(template.New("invite").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DevMesh assessment invitation</title>
<script src="/invite.js" defer></script></head>
<body><main>
<h1>Your DevMesh assessment</h1>
<p>The clock starts when you press the button. You can use it once.</p>
<form id="exchange" method="post" action="/oauth/token">
<input type="hidden" name="grant_type" value="urn:ietf:params:oauth:grant-type:token-exchange">
<input type="hidden" name="subject_token_type" value="urn:devmesh:params:oauth:token-type:invite">
<input type="hidden" id="subject_token" name="subject_token" value="{{.}}">
<button type="submit">Start the assessment</button>
</form>
<p id="status" role="status"></p>
</main></body></html>
`))

func (s *Service) invitePage(w http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("token")
	if len(tok) > 256 {
		tok = ""
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return invitePage.Execute(w, tok)
}

// inviteScript moves the token from the fragment into the form, and
// exchanges it with fetch so the candidate token lands in session storage
// rather than on screen. It runs only on a click.
const inviteScript = `"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var field = document.getElementById("subject_token");
  if (location.hash.length > 1) {
    field.value = decodeURIComponent(location.hash.slice(1));
    history.replaceState(null, "", location.pathname);
  }
  var form = document.getElementById("exchange");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var status = document.getElementById("status");
    fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form))})
      .then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
      .then(function (res) {
        if (!res[0]) { status.textContent = res[1].error_description || "The invitation could not be used."; return; }
        sessionStorage.setItem("devmesh.candidate_token", res[1].access_token);
        location.assign("/");
      })
      .catch(function () { status.textContent = "Network error; try again."; });
  });
});
`

func (s *Service) inviteScript(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, err := w.Write([]byte(inviteScript))
	return err
}
