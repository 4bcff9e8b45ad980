// Package ledger keeps each submission's AI token budget in the database
// with reserve-and-settle accounting.
//
// Before a prompt leaves for a provider, the relay reserves its worst-case
// cost (an upper bound of the input plus the output ceiling). A
// reservation is granted only if used + reserved + amount stays within
// the budget, decided by one conditional UPDATE, so concurrent requests
// on any number of replicas cannot overspend. When the provider answers,
// the reservation is settled with the reported usage; if nothing was
// sent, it is released; if the usage is unknown, it is forfeited (the
// whole reservation is charged). Every reservation closes exactly once;
// closing it again returns the first outcome.
//
// Policy, stated once here and in docs/relay.md:
//   - Cached input tokens count at full weight: they cost money and the
//     budget is a promise about spend, not about novelty.
//   - A charge never exceeds its reservation. If a provider reports more
//     than was reserved (it ignored max_tokens, or the input bound was
//     wrong), the charge is capped at the reservation and the excess is
//     recorded as overage on the reservation row for the operator. Thus
//     used never exceeds the budget, under any provider behaviour.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/store"
)

// Ledger is the token ledger over a store database. It is safe for
// concurrent use by any number of goroutines and processes.
type Ledger struct {
	db    *store.DB
	stmts stmts
}

// New returns the ledger kept in db. db must be migrated.
func New(db *store.DB) *Ledger { return &Ledger{db: db} }

// Usage is what a provider reported for one request. InputTokens counts
// every input token, including the cached ones; CachedInputTokens is the
// part of InputTokens that was served from a prompt cache (reported for
// the record; it is charged at full weight).
type Usage struct {
	InputTokens       int64 `json:"input_tokens"`
	CachedInputTokens int64 `json:"cached_input_tokens,omitempty"`
	OutputTokens      int64 `json:"output_tokens"`
}

// Total is the number of tokens charged for u.
func (u Usage) Total() int64 { return u.InputTokens + u.OutputTokens }

// Balance is a submission's account.
type Balance struct {
	SubmissionID string `json:"submission_id"`
	Budget       int64  `json:"budget"`
	Reserved     int64  `json:"reserved"`
	Used         int64  `json:"used"`
}

// Remaining is what a new reservation may still take.
func (b Balance) Remaining() int64 { return b.Budget - b.Used - b.Reserved }

// Reservation is granted budget that has not been closed yet.
type Reservation struct {
	ID           string    `json:"id"`
	SubmissionID string    `json:"submission_id"`
	Amount       int64     `json:"amount"`
	CreatedAt    time.Time `json:"created_at"`
	// Remaining is the account's remaining budget right after this
	// reservation was granted.
	Remaining int64 `json:"remaining"`
}

// Reservation states. The strings are stored: never rename or reuse one.
const (
	StateReserved  = "reserved"
	StateSettled   = "settled"   // usage known; charged min(usage, amount)
	StateForfeited = "forfeited" // usage unknown; the whole amount charged
	StateReleased  = "released"  // nothing charged
)

// Settlement is how a reservation closed.
type Settlement struct {
	ReservationID string `json:"reservation_id"`
	SubmissionID  string `json:"submission_id"`
	State         string `json:"state"`
	Reserved      int64  `json:"reserved"`
	Usage         Usage  `json:"usage"`
	Charged       int64  `json:"charged"`
	// Overage is reported usage beyond the reservation, not charged.
	Overage int64 `json:"overage,omitempty"`
	// Remaining is the account's remaining budget right after this
	// closing; zero on a Repeat.
	Remaining int64 `json:"remaining"`
	// Repeat is true when the reservation had already been closed; the
	// fields then describe the first closing and nothing changed.
	Repeat bool `json:"-"`
}

func (l *Ledger) q(s string) string { return l.db.Rebind(s) }

// Open creates the account of submissionID with budget tokens, if it does
// not exist yet. An existing account keeps its budget: the budget is
// fixed by the task when the submission first uses the relay.
func (l *Ledger) Open(ctx context.Context, submissionID string, budget int64) error {
	if budget < 0 {
		return errs.E(errs.Invalid, "invalid token budget %d: negative", budget)
	}
	now := l.db.Now()
	_, err := l.db.SQL.ExecContext(ctx, l.q(`INSERT INTO ledger_accounts
		(submission_id, budget, reserved, used, created_at, updated_at)
		VALUES (?, ?, 0, 0, ?, ?) ON CONFLICT (submission_id) DO NOTHING`),
		submissionID, budget, now, now)
	if err != nil {
		return fmt.Errorf("open token account %q: %w", submissionID, err)
	}
	return nil
}

// Balance returns the account of submissionID, or a NotFound error.
func (l *Ledger) Balance(ctx context.Context, submissionID string) (Balance, error) {
	return balance(ctx, l.db.SQL, l.q, submissionID)
}

func balance(ctx context.Context, qr store.Querier, q func(string) string, id string) (Balance, error) {
	b := Balance{SubmissionID: id}
	err := qr.QueryRowContext(ctx, q(`SELECT budget, reserved, used
		FROM ledger_accounts WHERE submission_id = ?`), id).
		Scan(&b.Budget, &b.Reserved, &b.Used)
	if errors.Is(err, sql.ErrNoRows) {
		return b, errs.E(errs.NotFound, "no token account for submission %q", id)
	}
	if err != nil {
		return b, fmt.Errorf("read token account %q: %w", id, err)
	}
	return b, nil
}
