package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/store"
)

// errInvalidRefresh is the one answer to every refresh token that does not
// work: unknown, used, expired, revoked or of a disabled account.
var errInvalidRefresh = errs.E(errs.Unauthenticated, "refresh token is invalid, used or expired")

// startFamily records a new sign-in of rec. It inserts the family only if
// the account still has the password hash that was just verified and is
// not disabled, so a sign-in racing a password change or a disable cannot
// outlive it.
func (s *Service) startFamily(ctx context.Context, rec store.Recruiter) (string, error) {
	id := s.db.NewID("sess")
	res, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`INSERT INTO token_families
		(id, recruiter_id, created_at)
		SELECT ?, id, ? FROM recruiters WHERE id = ? AND password_hash = ? AND disabled = ?`),
		id, s.now().UTC(), rec.ID, rec.PasswordHash, false)
	if err != nil {
		return "", fmt.Errorf("start sign-in: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", errInvalidCredentials
	}
	return id, nil
}

// newRefresh stores the hash of a fresh refresh token of family and
// returns the token.
func (s *Service) newRefresh(ctx context.Context, q store.Querier, family string) (string, error) {
	tok := randomToken(32)
	now := s.now().UTC()
	_, err := q.ExecContext(ctx, s.db.Rebind(`INSERT INTO refresh_tokens
		(token_hash, family_id, created_at, expires_at) VALUES (?, ?, ?, ?)`),
		hashToken(tok), family, now, now.Add(s.cfg.RefreshTTL))
	if err != nil {
		return "", fmt.Errorf("store refresh token: %w", err)
	}
	return tok, nil
}

// useRefresh consumes a refresh token and returns a new one in the same
// family with the account it belongs to. A token presented a second time
// means it was copied: the whole family is revoked.
func (s *Service) useRefresh(ctx context.Context, tok string) (store.Recruiter, string, string, error) {
	var (
		rec     store.Recruiter
		family  string
		next    string
		reused  bool
		now     = s.now().UTC()
		hash    = hashToken(tok)
		expires time.Time
		used    sql.NullTime
	)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT family_id, expires_at, used_at
			FROM refresh_tokens WHERE token_hash = ?`), hash).Scan(&family, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return errInvalidRefresh
		}
		if err != nil {
			return fmt.Errorf("read refresh token: %w", err)
		}
		if used.Valid {
			reused = true
			return errInvalidRefresh
		}
		if !now.Before(expires) {
			return errInvalidRefresh
		}
		res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE refresh_tokens SET used_at = ?
			WHERE token_hash = ? AND used_at IS NULL`), now, hash)
		if err != nil {
			return fmt.Errorf("use refresh token: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			reused = true
			return errInvalidRefresh
		}
		if rec, err = s.liveAccount(ctx, tx, family, ""); err != nil {
			return err
		}
		next, err = s.newRefresh(ctx, tx, family)
		return err
	})
	if reused {
		// Revoked after the transaction rolled back, so it sticks.
		if rerr := s.revokeFamily(ctx, family); rerr != nil {
			return rec, "", "", rerr
		}
		s.log.WarnContext(ctx, "refresh token reused; sign-in revoked", "session", family)
	}
	return rec, family, next, err
}

// liveAccount returns the account of an unrevoked family whose account is
// enabled. When recruiterID is set, the family must belong to it.
func (s *Service) liveAccount(ctx context.Context, q store.Querier, family, recruiterID string) (store.Recruiter, error) {
	var (
		rec     store.Recruiter
		revoked sql.NullTime
	)
	err := q.QueryRowContext(ctx, s.db.Rebind(`SELECT r.id, r.org_id, r.email, r.role,
		r.disabled, f.revoked_at FROM token_families f JOIN recruiters r ON r.id = f.recruiter_id
		WHERE f.id = ?`), family).Scan(&rec.ID, &rec.OrgID, &rec.Email, &rec.Role,
		&rec.Disabled, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, errs.E(errs.Unauthenticated, "sign-in is unknown")
	}
	if err != nil {
		return rec, fmt.Errorf("read sign-in: %w", err)
	}
	switch {
	case revoked.Valid:
		return rec, errs.E(errs.Unauthenticated, "sign-in was revoked")
	case rec.Disabled:
		return rec, errs.E(errs.Unauthenticated, "account is disabled")
	case recruiterID != "" && rec.ID != recruiterID:
		return rec, errs.E(errs.Unauthenticated, "sign-in belongs to another account")
	}
	return rec, nil
}

// revokeFamily ends one sign-in: its refresh tokens and its access tokens
// stop working.
func (s *Service) revokeFamily(ctx context.Context, family string) error {
	_, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE token_families SET revoked_at = ?
		WHERE id = ? AND revoked_at IS NULL`), s.now().UTC(), family)
	if err != nil {
		return fmt.Errorf("revoke sign-in: %w", err)
	}
	return nil
}

// RevokeAll ends every sign-in of the recruiter: all of their refresh and
// access tokens stop working at once.
func (s *Service) RevokeAll(ctx context.Context, recruiterID string) error {
	return s.revokeAll(ctx, s.db.SQL, recruiterID)
}

func (s *Service) revokeAll(ctx context.Context, q store.Querier, recruiterID string) error {
	_, err := q.ExecContext(ctx, s.db.Rebind(`UPDATE token_families SET revoked_at = ?
		WHERE recruiter_id = ? AND revoked_at IS NULL`), s.now().UTC(), recruiterID)
	if err != nil {
		return fmt.Errorf("revoke sign-ins of %q: %w", recruiterID, err)
	}
	return nil
}
