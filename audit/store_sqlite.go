package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"sync"
)

// sqliteTx appends on SQLite. The store opens SQLite with
// _txlock=immediate, so BEGIN already holds the database's single write
// lock: lock has nothing left to do.
type sqliteTx struct {
	tx    *sql.Tx
	stmts *sqliteStmts
}

// sqliteStmts caches the full-chunk INSERT statements, so a batch does
// not parse a 900-parameter statement ten times over.
type sqliteStmts struct {
	once   sync.Once
	events *sql.Stmt
	hashes *sql.Stmt
	err    error
}

var (
	insertEventsSQL = `INSERT INTO audit_events (idx, submission_id, seq, kind, actor,
		server_time, client_time, client_id, payload) VALUES `
	insertHashesSQL = `INSERT INTO audit_hashes (leaf_index, hashes) VALUES `
)

func (c *sqliteStmts) prepare(ctx context.Context, db *sql.DB) error {
	c.once.Do(func() {
		c.events, c.err = db.PrepareContext(ctx, insertEventsSQL+placeholders(sqliteChunk, 9))
		if c.err == nil {
			c.hashes, c.err = db.PrepareContext(ctx, insertHashesSQL+placeholders(sqliteChunk, 2))
		}
	})
	return c.err
}

// exec runs the cached statement for a full chunk, or a one-off
// statement for a shorter one.
func (s sqliteTx) exec(ctx context.Context, cached *sql.Stmt, prefix string, rows, cols int, args []any) error {
	var err error
	if rows == sqliteChunk && cached != nil {
		_, err = s.tx.StmtContext(ctx, cached).ExecContext(ctx, args...)
	} else {
		_, err = s.tx.ExecContext(ctx, prefix+placeholders(rows, cols), args...)
	}
	return err
}

var _ writeTx = sqliteTx{}

func (s sqliteTx) lock(context.Context) error { return nil }

func (s sqliteTx) treeSize(ctx context.Context) (int64, error) {
	var n int64
	err := s.tx.QueryRowContext(ctx,
		`SELECT COALESCE(MAX(tree_size), 0) FROM audit_tree_heads`).Scan(&n)
	return n, err
}

func (s sqliteTx) hashRows(ctx context.Context, leaves []int64) (map[int64][]byte, error) {
	out := map[int64][]byte{}
	if len(leaves) == 0 {
		return out, nil
	}
	arg, _ := json.Marshal(leaves)
	rows, err := s.tx.QueryContext(ctx, `SELECT leaf_index, hashes FROM audit_hashes
		WHERE leaf_index IN (SELECT value FROM json_each(?))`, string(arg))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var leaf int64
		var h []byte
		if err := rows.Scan(&leaf, &h); err != nil {
			return nil, err
		}
		out[leaf] = h
	}
	return out, rows.Err()
}

func (s sqliteTx) existing(ctx context.Context, keys []clientKey) (map[clientKey]Ack, error) {
	out := map[clientKey]Ack{}
	if len(keys) == 0 {
		return out, nil
	}
	pairs := make([][2]string, len(keys))
	for i, k := range keys {
		pairs[i] = [2]string{k.sub, k.id}
	}
	arg, _ := json.Marshal(pairs)
	// CROSS JOIN keeps json_each as the outer loop, so each key is one
	// probe of the (submission_id, client_id) index.
	rows, err := s.tx.QueryContext(ctx, `SELECT e.submission_id, e.client_id, e.idx, e.seq
		FROM json_each(?) AS k CROSS JOIN audit_events AS e
		WHERE e.submission_id = k.value->>0 AND e.client_id = k.value->>1`, string(arg))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k clientKey
		var a Ack
		if err := rows.Scan(&k.sub, &k.id, &a.Index, &a.Seq); err != nil {
			return nil, err
		}
		out[k] = a
	}
	return out, rows.Err()
}

func (s sqliteTx) lastSeqs(ctx context.Context, subs []string) (map[string]int64, error) {
	out := map[string]int64{}
	arg, _ := json.Marshal(subs)
	rows, err := s.tx.QueryContext(ctx, `SELECT k.value,
		(SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE submission_id = k.value)
		FROM json_each(?) AS k`, string(arg))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var sub string
		var n int64
		if err := rows.Scan(&sub, &n); err != nil {
			return nil, err
		}
		out[sub] = n
	}
	return out, rows.Err()
}

// sqliteChunk is how many rows one INSERT statement carries: fewer
// statements, each well under SQLite's limit on bound parameters.
const sqliteChunk = 100

func (s sqliteTx) insert(ctx context.Context, b *batch) error {
	for start := 0; start < len(b.events); start += sqliteChunk {
		end := min(start+sqliteChunk, len(b.events))
		if err := s.insertEvents(ctx, b.events[start:end]); err != nil {
			return err
		}
		if err := s.insertHashes(ctx, b.events[start:end], b.hashes[start:end]); err != nil {
			return err
		}
	}
	_, err := s.tx.ExecContext(ctx, `INSERT INTO audit_tree_heads
		(tree_size, root_hash, created_at) VALUES (?, ?, ?)`, b.size, b.root[:], b.now)
	return err
}

func (s sqliteTx) insertEvents(ctx context.Context, evs []Event) error {
	args := make([]any, 0, 9*len(evs))
	for _, e := range evs {
		args = append(args, eventArgs(e)...)
	}
	return s.exec(ctx, s.stmts.events, insertEventsSQL, len(evs), 9, args)
}

func (s sqliteTx) insertHashes(ctx context.Context, evs []Event, hashes [][]byte) error {
	args := make([]any, 0, 2*len(evs))
	for i, e := range evs {
		args = append(args, e.Index, hashes[i])
	}
	return s.exec(ctx, s.stmts.hashes, insertHashesSQL, len(evs), 2, args)
}

// eventArgs returns the column values of e in the order of the
// audit_events columns.
func eventArgs(e Event) []any {
	var client, cid any
	if e.ClientTime != nil {
		client = *e.ClientTime
	}
	if e.ClientID != "" {
		cid = e.ClientID
	}
	return []any{e.Index, e.SubmissionID, e.Seq, string(e.Kind), string(e.Actor),
		e.ServerTime, client, cid, string(e.Payload)}
}

// placeholders returns "(?, ?), (?, ?)" for rows rows of cols columns.
func placeholders(rows, cols int) string {
	one := "(" + strings.Repeat("?, ", cols-1) + "?)"
	return strings.Repeat(one+", ", rows-1) + one
}
