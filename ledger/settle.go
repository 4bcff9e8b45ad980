package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
)

// Settle closes a reservation with the usage the provider reported and
// charges min(u.Total(), reservation) to the account; the excess, if
// any, is recorded as overage and not charged. Settling a reservation
// that is already closed changes nothing and returns the first outcome
// with Repeat set.
func (l *Ledger) Settle(ctx context.Context, reservationID string, u Usage) (Settlement, error) {
	if u.InputTokens < 0 || u.OutputTokens < 0 || u.CachedInputTokens < 0 {
		return Settlement{}, errs.E(errs.Invalid, "invalid usage %+v: negative", u)
	}
	return l.close(ctx, reservationID, StateSettled, u)
}

// Forfeit closes a reservation whose usage is unknown (the stream broke
// before the provider reported it) and charges the whole reservation.
func (l *Ledger) Forfeit(ctx context.Context, reservationID string) (Settlement, error) {
	return l.close(ctx, reservationID, StateForfeited, Usage{})
}

// Release closes a reservation without charging anything: use it when
// nothing reached the provider, or it refused before doing any work.
func (l *Ledger) Release(ctx context.Context, reservationID string) (Settlement, error) {
	return l.close(ctx, reservationID, StateReleased, Usage{})
}

func (l *Ledger) close(ctx context.Context, id, state string, u Usage) (Settlement, error) {
	var s Settlement
	if err := l.prepare(ctx); err != nil {
		return s, err
	}
	err := l.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		s, err = l.read(ctx, tx, id)
		if err != nil || s.State != StateReserved {
			s.Repeat = err == nil
			return err
		}
		s.State, s.Usage = state, u
		switch state {
		case StateSettled:
			s.Charged = min(u.Total(), s.Reserved)
			s.Overage = u.Total() - s.Charged
		case StateForfeited:
			s.Charged = s.Reserved
		}
		return l.write(ctx, tx, &s)
	})
	return s, err
}

// read loads a reservation. On PostgreSQL the row is locked so two
// closers serialise; SQLite transactions already hold the write lock.
func (l *Ledger) read(ctx context.Context, tx *sql.Tx, id string) (Settlement, error) {
	s := Settlement{ReservationID: id}
	err := l.in(ctx, tx, sqlRead).QueryRowContext(ctx, id).Scan(&s.SubmissionID, &s.Reserved,
		&s.State, &s.Usage.InputTokens, &s.Usage.CachedInputTokens,
		&s.Usage.OutputTokens, &s.Charged, &s.Overage)
	if errors.Is(err, sql.ErrNoRows) {
		return s, errs.E(errs.NotFound, "no reservation %q", id)
	}
	if err != nil {
		return s, fmt.Errorf("read reservation %q: %w", id, err)
	}
	return s, nil
}

func (l *Ledger) write(ctx context.Context, tx *sql.Tx, s *Settlement) error {
	now := l.db.Now()
	_, err := l.in(ctx, tx, sqlClose).ExecContext(ctx, s.State, s.Usage.InputTokens, s.Usage.CachedInputTokens,
		s.Usage.OutputTokens, s.Charged, s.Overage, now, s.ReservationID, StateReserved)
	if err != nil {
		return fmt.Errorf("close reservation %q: %w", s.ReservationID, err)
	}
	err = l.in(ctx, tx, sqlSettle).QueryRowContext(ctx, s.Reserved, s.Charged, now, s.SubmissionID).Scan(&s.Remaining)
	if err != nil {
		return fmt.Errorf("settle account %q: %w", s.SubmissionID, err)
	}
	return nil
}

// ForfeitStale forfeits every reservation opened before cutoff and still
// open: its request was cut off by a crash or restart of the server that
// held it, and its usage is unknown. It returns how many it closed. Run
// it periodically with a cutoff well beyond the longest request.
func (l *Ledger) ForfeitStale(ctx context.Context, cutoff time.Time) ([]Settlement, error) {
	rows, err := l.db.SQL.QueryContext(ctx, l.q(`SELECT id FROM ledger_reservations
		WHERE state = ? AND created_at < ?`), StateReserved, cutoff.UTC())
	if err != nil {
		return nil, fmt.Errorf("list stale reservations: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list stale reservations: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	var out []Settlement
	for _, id := range ids {
		s, err := l.Forfeit(ctx, id)
		if err != nil {
			return out, err
		}
		if !s.Repeat {
			out = append(out, s)
		}
	}
	return out, nil
}
