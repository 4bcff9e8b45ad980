package blob

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Placeholder is the bind-parameter style of a SQL dialect.
type Placeholder int

// Placeholder styles.
const (
	QuestionMark Placeholder = iota // SQLite: ?
	Dollar                          // PostgreSQL: $1, $2, ...
)

// SQLDataKeys keeps wrapped data keys in the blob_data_keys table
// (store/migrations/*/00004_blob_keys.sql) of SQLite or PostgreSQL. It is
// safe for concurrent use, also by several processes: every change is a
// single conditional statement.
//
// Shredding sets the wrapped key to NULL and keeps the row as a
// tombstone. The database may still hold the old bytes in free pages,
// its write-ahead log or backups until those are overwritten or expire;
// see docs/storage.md.
type SQLDataKeys struct {
	db  *sql.DB
	ph  Placeholder
	now func() time.Time
}

var _ DataKeys = (*SQLDataKeys)(nil)

// NewSQLDataKeys returns a DataKeys over db, whose placeholders are ph.
// now is the clock for the timestamp columns; nil means time.Now.
func NewSQLDataKeys(db *sql.DB, ph Placeholder, now func() time.Time) *SQLDataKeys {
	if now == nil {
		now = time.Now
	}
	return &SQLDataKeys{db: db, ph: ph, now: now}
}

// q rewrites ? placeholders for the dialect. The queries below contain
// no ? inside literals.
func (k *SQLDataKeys) q(query string) string {
	if k.ph != Dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (k *SQLDataKeys) ts() time.Time { return k.now().UTC() }

// Get implements DataKeys.
func (k *SQLDataKeys) Get(ctx context.Context, scope string) (WrappedKey, error) {
	var w WrappedKey
	err := k.db.QueryRowContext(ctx, k.q(
		`SELECT kek_id, wrapped FROM blob_data_keys WHERE scope = ?`), scope).
		Scan(&w.KEKID, &w.Ciphertext)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return WrappedKey{}, fmt.Errorf("get data key of scope %q: %w", scope, ErrNoDataKey)
	case err != nil:
		return WrappedKey{}, fmt.Errorf("get data key of scope %q: %w", scope, err)
	case w.Ciphertext == nil:
		return WrappedKey{}, fmt.Errorf("get data key of scope %q: %w", scope, ErrShredded)
	}
	return w, nil
}

// Create implements DataKeys.
func (k *SQLDataKeys) Create(ctx context.Context, scope string, w WrappedKey) (WrappedKey, error) {
	if len(w.Ciphertext) == 0 {
		return WrappedKey{}, fmt.Errorf("create data key of scope %q: empty wrapped key", scope)
	}
	_, err := k.db.ExecContext(ctx, k.q(
		`INSERT INTO blob_data_keys (scope, kek_id, wrapped, created_at)
		 VALUES (?, ?, ?, ?) ON CONFLICT (scope) DO NOTHING`),
		scope, w.KEKID, w.Ciphertext, k.ts())
	if err != nil {
		return WrappedKey{}, fmt.Errorf("create data key of scope %q: %w", scope, err)
	}
	return k.Get(ctx, scope)
}

// Rewrap implements DataKeys.
func (k *SQLDataKeys) Rewrap(ctx context.Context, scope string, old, new WrappedKey) error {
	if len(new.Ciphertext) == 0 {
		return fmt.Errorf("rewrap data key of scope %q: empty wrapped key", scope)
	}
	res, err := k.db.ExecContext(ctx, k.q(
		`UPDATE blob_data_keys SET kek_id = ?, wrapped = ?, rewrapped_at = ?
		 WHERE scope = ? AND kek_id = ? AND wrapped = ?`),
		new.KEKID, new.Ciphertext, k.ts(), scope, old.KEKID, old.Ciphertext)
	if err != nil {
		return fmt.Errorf("rewrap data key of scope %q: %w", scope, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	if _, err := k.Get(ctx, scope); err != nil {
		return err
	}
	return fmt.Errorf("rewrap data key of scope %q: %w", scope, ErrRewrapConflict)
}

// Shred implements DataKeys.
func (k *SQLDataKeys) Shred(ctx context.Context, scope string) error {
	now := k.ts()
	_, err := k.db.ExecContext(ctx, k.q(
		`INSERT INTO blob_data_keys (scope, kek_id, wrapped, created_at, shredded_at)
		 VALUES (?, '', NULL, ?, ?)
		 ON CONFLICT (scope) DO UPDATE SET wrapped = NULL,
		   shredded_at = COALESCE(blob_data_keys.shredded_at, excluded.shredded_at)`),
		scope, now, now)
	if err != nil {
		return fmt.Errorf("shred data key of scope %q: %w", scope, err)
	}
	return nil
}

// List implements DataKeys.
func (k *SQLDataKeys) List(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := k.db.QueryContext(ctx, k.q(
		`SELECT scope FROM blob_data_keys WHERE wrapped IS NOT NULL AND scope > ?
		 ORDER BY scope LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("list data keys: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("list data keys: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list data keys: %w", err)
	}
	return out, nil
}
