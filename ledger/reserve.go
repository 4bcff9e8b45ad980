package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/devmesh/devmesh/internal/errs"
)

// Reserve sets amount tokens of submissionID's budget aside. It fails
// with an errs.Exhausted error, changing nothing, when the amount does
// not fit in what remains, and with errs.NotFound when the account does
// not exist.
//
// The grant is a single conditional UPDATE: the database evaluates
// used + reserved + amount <= budget against the row it locks, so two
// racing reservations cannot both take the last tokens (PostgreSQL
// re-checks the condition after waiting for the row lock; SQLite
// serialises writers).
func (l *Ledger) Reserve(ctx context.Context, submissionID string, amount int64) (Reservation, error) {
	if amount <= 0 {
		return Reservation{}, errs.E(errs.Invalid, "invalid reservation of %d tokens: must be positive", amount)
	}
	r := Reservation{ID: l.db.NewID("rsv"), SubmissionID: submissionID,
		Amount: amount, CreatedAt: l.db.Now()}
	if err := l.prepare(ctx); err != nil {
		return Reservation{}, err
	}
	err := l.db.InTx(ctx, func(tx *sql.Tx) error {
		err := l.in(ctx, tx, sqlGrant).QueryRowContext(ctx, amount, r.CreatedAt, submissionID, amount).Scan(&r.Remaining)
		if errors.Is(err, sql.ErrNoRows) {
			return l.refusal(ctx, tx, submissionID, amount)
		}
		if err != nil {
			return fmt.Errorf("reserve %d tokens for %q: %w", amount, submissionID, err)
		}
		_, err = l.in(ctx, tx, sqlRecord).ExecContext(ctx, r.ID, submissionID, amount, StateReserved, r.CreatedAt)
		if err != nil {
			return fmt.Errorf("record reservation for %q: %w", submissionID, err)
		}
		return nil
	})
	if err != nil {
		return Reservation{}, err
	}
	return r, nil
}

// refusal explains why a reservation was not granted.
func (l *Ledger) refusal(ctx context.Context, tx *sql.Tx, id string, amount int64) error {
	b, err := balance(ctx, tx, l.q, id)
	if err != nil {
		return err
	}
	return &errs.Error{Kind: errs.Exhausted, Msg: fmt.Sprintf(
		"token budget exhausted: this request may use up to %d tokens "+
			"but only %d of the submission's %d remain", amount, max(b.Remaining(), 0), b.Budget),
		Cause: ErrExhausted}
}

// ErrExhausted is the cause of every refused reservation.
var ErrExhausted = fmt.Errorf("token budget exhausted")
