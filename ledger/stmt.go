package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/devmesh/devmesh/store"
)

// The statements every relayed request runs. They are prepared once:
// preparing costs more CPU than running them on SQLite.
const (
	sqlGrant = `UPDATE ledger_accounts
		SET reserved = reserved + ?, updated_at = ?
		WHERE submission_id = ? AND used + reserved + ? <= budget
		RETURNING budget - used - reserved`
	sqlRecord = `INSERT INTO ledger_reservations
		(id, submission_id, amount, state, created_at) VALUES (?, ?, ?, ?, ?)`
	sqlRead = `SELECT submission_id, amount, state, input_tokens, cached_tokens,
		output_tokens, charged, overage FROM ledger_reservations WHERE id = ?`
	sqlClose = `UPDATE ledger_reservations
		SET state = ?, input_tokens = ?, cached_tokens = ?, output_tokens = ?,
		charged = ?, overage = ?, closed_at = ? WHERE id = ? AND state = ?`
	sqlSettle = `UPDATE ledger_accounts
		SET reserved = reserved - ?, used = used + ?, updated_at = ?
		WHERE submission_id = ? RETURNING budget - used - reserved`
)

// stmts caches the prepared statements. database/sql keeps one prepared
// copy per connection and reuses it inside transactions.
type stmts struct {
	mu sync.Mutex // guards m
	m  map[string]*sql.Stmt
}

// prepare prepares every statement once. It must run outside any
// transaction: preparing takes a connection from the pool, and a
// transaction waiting for one while holding another can deadlock a
// full pool.
func (l *Ledger) prepare(ctx context.Context) error {
	l.stmts.mu.Lock()
	defer l.stmts.mu.Unlock()
	if l.stmts.m != nil {
		return nil
	}
	read := sqlRead
	if l.db.Dialect == store.Postgres {
		read += " FOR UPDATE" // serialise two closers of one reservation
	}
	m := map[string]*sql.Stmt{}
	for key, q := range map[string]string{sqlGrant: sqlGrant, sqlRecord: sqlRecord,
		sqlRead: read, sqlClose: sqlClose, sqlSettle: sqlSettle} {
		s, err := l.db.SQL.PrepareContext(ctx, l.q(q))
		if err != nil {
			for _, s := range m {
				s.Close()
			}
			return fmt.Errorf("prepare ledger statement: %w", err)
		}
		m[key] = s
	}
	l.stmts.m = m
	return nil
}

// in returns the prepared statement for query bound to tx. prepare must
// have succeeded.
func (l *Ledger) in(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	l.stmts.mu.Lock()
	s := l.stmts.m[query]
	l.stmts.mu.Unlock()
	return tx.StmtContext(ctx, s)
}

// Close releases the ledger's prepared statements. The ledger must not
// be used afterwards; closing the database releases them too.
func (l *Ledger) Close() error {
	l.stmts.mu.Lock()
	defer l.stmts.mu.Unlock()
	for _, s := range l.stmts.m {
		s.Close()
	}
	l.stmts.m = nil
	return nil
}
