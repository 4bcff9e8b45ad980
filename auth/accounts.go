package auth

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/devmesh/devmesh/internal/errs"
)

// SetPassword replaces a recruiter's password and, in the same
// transaction, revokes every sign-in of the account.
func (s *Service) SetPassword(ctx context.Context, recruiterID, password string) error {
	if password == "" {
		return errs.E(errs.Invalid, "password is empty")
	}
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return err
	}
	return s.updateAccount(ctx, recruiterID, `password_hash = ?`, hash)
}

// SetDisabled disables or re-enables a recruiter account. Disabling
// revokes every sign-in of the account; re-enabling does not bring them
// back.
func (s *Service) SetDisabled(ctx context.Context, recruiterID string, disabled bool) error {
	return s.updateAccount(ctx, recruiterID, `disabled = ?`, disabled)
}

func (s *Service) updateAccount(ctx context.Context, id, set string, v any) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE recruiters SET `+set+
			`, updated_at = ? WHERE id = ?`), v, s.now().UTC(), id)
		if err != nil {
			return fmt.Errorf("update recruiter %q: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.E(errs.NotFound, "recruiter %q not found", id)
		}
		return s.revokeAll(ctx, tx, id)
	})
}
