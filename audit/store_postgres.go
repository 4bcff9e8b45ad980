package audit

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// logLockKey is the PostgreSQL advisory lock that serialises appends
// from every process sharing the database ("dvmshlog" in ASCII).
const logLockKey = 0x64766d73686c6f67

// pgTx appends on PostgreSQL through a pgx transaction, so that rows go
// in with COPY.
type pgTx struct{ tx pgx.Tx }

var _ writeTx = pgTx{}

// lock takes a transaction-scoped advisory lock: held until commit or
// rollback, so a crashed writer cannot leave it behind.
func (p pgTx) lock(ctx context.Context) error {
	_, err := p.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(logLockKey))
	return err
}

func (p pgTx) treeSize(ctx context.Context) (int64, error) {
	var n int64
	err := p.tx.QueryRow(ctx,
		`SELECT COALESCE(MAX(tree_size), 0) FROM audit_tree_heads`).Scan(&n)
	return n, err
}

func (p pgTx) hashRows(ctx context.Context, leaves []int64) (map[int64][]byte, error) {
	out := map[int64][]byte{}
	if len(leaves) == 0 {
		return out, nil
	}
	rows, err := p.tx.Query(ctx, `SELECT leaf_index, hashes FROM audit_hashes
		WHERE leaf_index = ANY($1)`, leaves)
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

func (p pgTx) existing(ctx context.Context, keys []clientKey) (map[clientKey]Ack, error) {
	out := map[clientKey]Ack{}
	if len(keys) == 0 {
		return out, nil
	}
	subs, ids := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		subs[i], ids[i] = k.sub, k.id
	}
	// LATERAL makes each key one probe of the (submission_id, client_id)
	// index, however large the table or stale its statistics.
	rows, err := p.tx.Query(ctx, `SELECT k.sub, k.cid, e.idx, e.seq
		FROM unnest($1::text[], $2::text[]) AS k(sub, cid)
		CROSS JOIN LATERAL (SELECT idx, seq FROM audit_events
			WHERE submission_id = k.sub AND client_id = k.cid) e`, subs, ids)
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

func (p pgTx) lastSeqs(ctx context.Context, subs []string) (map[string]int64, error) {
	out := map[string]int64{}
	rows, err := p.tx.Query(ctx, `SELECT s,
		(SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE submission_id = s)
		FROM unnest($1::text[]) AS s`, subs)
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

func (p pgTx) insert(ctx context.Context, b *batch) error {
	evRows := make([][]any, len(b.events))
	hashRows := make([][]any, len(b.events))
	for i, e := range b.events {
		evRows[i] = eventArgs(e)
		hashRows[i] = []any{e.Index, b.hashes[i]}
	}
	_, err := p.tx.CopyFrom(ctx, pgx.Identifier{"audit_events"},
		[]string{"idx", "submission_id", "seq", "kind", "actor",
			"server_time", "client_time", "client_id", "payload"},
		pgx.CopyFromRows(evRows))
	if err != nil {
		return err
	}
	_, err = p.tx.CopyFrom(ctx, pgx.Identifier{"audit_hashes"},
		[]string{"leaf_index", "hashes"}, pgx.CopyFromRows(hashRows))
	if err != nil {
		return err
	}
	_, err = p.tx.Exec(ctx, `INSERT INTO audit_tree_heads
		(tree_size, root_hash, created_at) VALUES ($1, $2, $3)`, b.size, b.root[:], b.now)
	return err
}
