package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
)

// Token exchange (RFC 8693) identifiers. They are part of the wire
// contract: never rename one.
const (
	GrantTokenExchange  = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeInvite     = "urn:devmesh:params:oauth:token-type:invite"
	TokenTypeAccess     = "urn:ietf:params:oauth:token-type:access_token"
	maxSubjectTokenSize = MaxTokenSize
)

// ExchangeResponse is the body of a successful token exchange.
type ExchangeResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int    `json:"expires_in"`
}

// oauthError is an RFC 6749 section 5.2 error. Code is one of the
// registered error codes; Description is safe to show the client.
type oauthError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func badRequest(code, format string, args ...any) *oauthError {
	return &oauthError{http.StatusBadRequest, code, fmt.Sprintf(format, args...)}
}

// errBadInvite is the one answer to an invite that is unknown, used,
// expired or of a deleted assessment.
var errBadInvite = badRequest("invalid_grant", "invite is invalid, used or expired")

// token serves POST /oauth/token. Its errors use the RFC 6749 shape
// {"error","error_description"} rather than the API's, so it writes them
// itself.
func (s *Service) token(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Pragma", "no-cache")
	resp, err := s.exchange(r)
	if err == nil {
		return server.WriteJSON(w, http.StatusOK, resp)
	}
	var oe *oauthError
	if !errors.As(err, &oe) {
		oe = &oauthError{http.StatusInternalServerError, "server_error", "internal error"}
		if errs.Is(err, errs.Unavailable) {
			oe = &oauthError{http.StatusServiceUnavailable, "temporarily_unavailable", "try again later"}
		}
		s.log.ErrorContext(r.Context(), "token exchange failed",
			"request_id", server.RequestID(r.Context()), "err", err)
	}
	return server.WriteJSON(w, oe.Status, oe)
}

func (s *Service) exchange(r *http.Request) (ExchangeResponse, error) {
	form, err := exchangeForm(r)
	if err != nil {
		return ExchangeResponse{}, err
	}
	if g := form.Get("grant_type"); g != GrantTokenExchange {
		return ExchangeResponse{}, badRequest("unsupported_grant_type", "unsupported grant_type %q", g)
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != TokenTypeAccess {
		return ExchangeResponse{}, badRequest("invalid_request", "unsupported requested_token_type %q", rt)
	}
	subject := form.Get("subject_token")
	if subject == "" {
		return ExchangeResponse{}, badRequest("invalid_request", "subject_token is missing")
	}
	if len(subject) > maxSubjectTokenSize {
		return ExchangeResponse{}, badRequest("invalid_grant", "subject_token is too long")
	}
	var sub store.Submission
	switch tt := form.Get("subject_token_type"); tt {
	case TokenTypeInvite:
		sub, err = s.openInvite(r.Context(), subject)
	case TokenTypeAccess:
		sub, err = s.renewCandidate(r.Context(), subject)
	default:
		return ExchangeResponse{}, badRequest("invalid_request", "unsupported subject_token_type %q", tt)
	}
	if err != nil {
		return ExchangeResponse{}, err
	}
	tok, err := s.issue(candidateKind, candidateClaims(sub), s.cfg.CandidateTTL)
	if err != nil {
		return ExchangeResponse{}, err
	}
	return ExchangeResponse{AccessToken: tok, IssuedTokenType: TokenTypeAccess,
		TokenType: "Bearer", ExpiresIn: int(s.cfg.CandidateTTL / time.Second)}, nil
}

// exchangeForm parses the form body, refusing other content types and
// repeated parameters (RFC 6749 section 3.2). Query parameters are
// ignored: tokens do not belong in URLs.
func exchangeForm(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("invalid_request", "content type must be application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &oauthError{http.StatusRequestEntityTooLarge, "invalid_request", "request body is too large"}
		}
		return nil, badRequest("invalid_request", "malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, badRequest("invalid_request", "parameter %q is repeated", k)
		}
	}
	return r.PostForm, nil
}

// openInvite consumes an invite: the submission opens, its clock starts,
// and submission.opened is appended to the audit log.
func (s *Service) openInvite(ctx context.Context, invite string) (store.Submission, error) {
	hash := hashToken(invite)
	pending, err := s.invited(ctx, hash)
	if err != nil {
		return pending, err
	}
	dur, err := s.session(ctx, pending)
	if err != nil {
		return pending, fmt.Errorf("session duration of %q: %w", pending.ID, err)
	}
	sub, err := s.db.OpenSubmission(ctx, hash, dur)
	if errors.Is(err, store.ErrInviteInvalid) {
		return sub, errBadInvite
	}
	if err != nil {
		return sub, err
	}
	if err := s.appendOpened(ctx, sub); err != nil {
		// The invite is spent but the log lacks the opening; the
		// candidate gets an error rather than an unlogged session.
		return sub, errs.Wrap(errs.Unavailable, err, "audit log unavailable")
	}
	s.log.InfoContext(ctx, "submission opened", "submission", sub.ID)
	return sub, nil
}

// invited returns the still-invited submission of an invite hash, for the
// session-length lookup; OpenSubmission re-checks everything atomically.
func (s *Service) invited(ctx context.Context, hash string) (store.Submission, error) {
	var sub store.Submission
	err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT id, org_id, assessment_id, state
		FROM submissions WHERE invite_hash = ? AND state = ?`), hash, store.StateInvited).
		Scan(&sub.ID, &sub.OrgID, &sub.AssessmentID, &sub.State)
	if errors.Is(err, sql.ErrNoRows) {
		return sub, errBadInvite
	}
	if err != nil {
		return sub, fmt.Errorf("read invite: %w", err)
	}
	return sub, nil
}

func (s *Service) appendOpened(ctx context.Context, sub store.Submission) error {
	payload, err := json.Marshal(map[string]any{"assessment_id": sub.AssessmentID,
		"opened_at": sub.OpenedAt, "deadline_at": sub.DeadlineAt})
	if err != nil {
		return err
	}
	entries := []audit.Entry{{SubmissionID: sub.ID,
		Kind: audit.KindSubmissionOpened, Actor: audit.ActorCandidate, Payload: payload}}
	if s.opening != nil {
		more, err := s.opening(ctx, sub)
		if err != nil {
			return fmt.Errorf("prepare opening events: %w", err)
		}
		entries = append(entries, more...)
	}
	_, err = s.audit.Append(ctx, entries...)
	return err
}

// renewCandidate accepts a still-valid candidate token of an open
// submission and returns that submission, for a fresh token.
func (s *Service) renewCandidate(ctx context.Context, tok string) (store.Submission, error) {
	p, err := s.AuthenticateCandidate(ctx, tok)
	if errs.Is(err, errs.Unauthenticated) {
		return store.Submission{}, badRequest("invalid_grant", "%s", errs.Message(err))
	}
	if err != nil {
		return store.Submission{}, err
	}
	return store.Submission{ID: p.SubmissionID, OrgID: p.OrgID}, nil
}
