package auth

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
)

// errInvalidCredentials is the one answer to every failed sign-in: unknown
// email, wrong password, disabled account. One status, one body, so the
// response does not tell whether an account exists.
var errInvalidCredentials = errs.E(errs.Unauthenticated, "invalid email or password")

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// TokenResponse is the body of a successful sign-in or refresh.
type TokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := server.DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.limitLogin(w, r, req.Email); err != nil {
		return err
	}
	rec, err := s.checkPassword(r, req)
	if err != nil {
		return err
	}
	family, err := s.startFamily(r.Context(), rec)
	if err != nil {
		return err
	}
	refresh, err := s.newRefresh(r.Context(), s.db.SQL, family)
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "recruiter signed in", "recruiter", rec.ID, "session", family)
	return s.writeTokens(w, rec, family, refresh)
}

// limitLogin spends one attempt of the client address and one of the
// account named. Unknown emails have buckets too, so the limits behave
// the same whether or not an account exists.
func (s *Service) limitLogin(w http.ResponseWriter, r *http.Request, email string) error {
	acct, err := store.NormalizeEmail(email)
	if err != nil {
		acct = strings.ToLower(strings.TrimSpace(email))
		if len(acct) > 256 {
			acct = acct[:256]
		}
	}
	for _, lim := range []struct {
		l   *Limiter
		key string
	}{{s.perIP, clientIP(r)}, {s.perAcct, acct}} {
		if ok, wait := lim.l.Allow(lim.key); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			return errs.E(errs.Exhausted, "too many sign-in attempts; retry later")
		}
	}
	return nil
}

// checkPassword returns the enabled account whose password matches. Every
// failure path does the same argon2id work: an unknown or malformed email
// and an account with an unreadable hash are checked against a dummy
// hash, so timing does not tell them apart from a wrong password.
func (s *Service) checkPassword(r *http.Request, req loginRequest) (store.Recruiter, error) {
	rec, err := s.db.RecruiterByEmail(r.Context(), req.Email)
	if err != nil && !errs.Is(err, errs.NotFound) && !errs.Is(err, errs.Invalid) {
		return rec, err
	}
	hash := s.dummy
	if err == nil {
		hash = rec.PasswordHash
	}
	ok, verr := s.hasher.Verify(hash, req.Password)
	if verr != nil {
		s.log.ErrorContext(r.Context(), "unreadable password hash", "recruiter", rec.ID, "err", verr)
		s.hasher.Verify(s.dummy, req.Password)
		ok = false
	}
	if err != nil || !ok || rec.Disabled {
		return rec, errInvalidCredentials
	}
	return rec, nil
}

// writeTokens issues an access token for rec's sign-in family and writes
// it with the refresh token.
func (s *Service) writeTokens(w http.ResponseWriter, rec store.Recruiter, family, refresh string) error {
	access, err := s.issue(recruiterKind, Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: rec.ID},
		Org:              rec.OrgID, Role: rec.Role, Session: family}, s.cfg.AccessTTL)
	if err != nil {
		return err
	}
	return server.WriteJSON(w, http.StatusOK, TokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(s.cfg.AccessTTL / time.Second),
		RefreshToken: refresh, RefreshExpiresIn: int(s.cfg.RefreshTTL / time.Second)})
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (s *Service) refresh(w http.ResponseWriter, r *http.Request) error {
	var req refreshRequest
	if err := server.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" || len(req.RefreshToken) > 256 {
		return errInvalidRefresh
	}
	rec, family, next, err := s.useRefresh(r.Context(), req.RefreshToken)
	if err != nil {
		if errs.Is(err, errs.Unauthenticated) {
			return errInvalidRefresh
		}
		return err
	}
	return s.writeTokens(w, rec, family, next)
}

// logout revokes the sign-in of the refresh token in the body: the
// refresh token, every token rotated from it, and every access token of
// that sign-in stop working. It answers 204 whatever the token, so it is
// no oracle for which tokens exist.
func (s *Service) logout(w http.ResponseWriter, r *http.Request) error {
	var req refreshRequest
	if err := server.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.RefreshToken != "" && len(req.RefreshToken) <= 256 {
		var family string
		err := s.db.SQL.QueryRowContext(r.Context(), s.db.Rebind(
			`SELECT family_id FROM refresh_tokens WHERE token_hash = ?`),
			hashToken(req.RefreshToken)).Scan(&family)
		if err == nil {
			if err := s.revokeFamily(r.Context(), family); err != nil {
				return err
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// clientIP is the address the request came from. Forwarding headers are
// not trusted: behind a proxy, every client shares the proxy's bucket.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
