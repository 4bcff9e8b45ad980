package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/store"
	"golang.org/x/mod/sumdb/tlog"
)

const eventCols = `idx, submission_id, seq, kind, actor, server_time,
	client_time, client_id, payload`

func scanEvent(row interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var client sql.NullTime
	var cid sql.NullString
	var payload string
	err := row.Scan(&e.Index, &e.SubmissionID, &e.Seq, &e.Kind, &e.Actor,
		&e.ServerTime, &client, &cid, &payload)
	e.ServerTime = e.ServerTime.UTC()
	if client.Valid {
		ct := client.Time.UTC()
		e.ClientTime = &ct
	}
	e.ClientID = cid.String
	e.Payload = json.RawMessage(payload)
	return e, err
}

// ReadEvents returns up to limit events of a submission with sequence
// numbers above afterSeq, in order.
func ReadEvents(ctx context.Context, db *store.DB, sub string, afterSeq int64, limit int) ([]Event, error) {
	rows, err := db.SQL.QueryContext(ctx, db.Rebind(`SELECT `+eventCols+
		` FROM audit_events WHERE submission_id = ? AND seq > ?
		ORDER BY seq LIMIT ?`), sub, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read events of %q: %w", sub, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("read events of %q: %w", sub, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventAt returns the event at a leaf index.
func EventAt(ctx context.Context, db *store.DB, index int64) (Event, error) {
	e, err := scanEvent(db.SQL.QueryRowContext(ctx, db.Rebind(`SELECT `+eventCols+
		` FROM audit_events WHERE idx = ?`), index))
	if errors.Is(err, sql.ErrNoRows) {
		return e, errs.E(errs.NotFound, "event %d not found", index)
	}
	if err != nil {
		return e, fmt.Errorf("read event %d: %w", index, err)
	}
	return e, nil
}

// dbHashes reads stored tlog hashes from the database, for proofs.
type dbHashes struct {
	ctx context.Context
	db  *store.DB
}

var _ tlog.HashReader = dbHashes{}

// ReadHashes implements tlog.HashReader.
func (r dbHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	leaves := make([]string, 0, len(indexes))
	for _, i := range indexes {
		leaf, _ := storageLocation(i)
		leaves = append(leaves, fmt.Sprint(leaf))
	}
	rowsByLeaf, err := r.rows(leaves)
	if err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		leaf, level := storageLocation(x)
		if out[i], err = hashAt(rowsByLeaf[leaf], leaf, level); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r dbHashes) rows(leaves []string) (map[int64][]byte, error) {
	// The leaves are integers formatted here, not input: safe to inline.
	rows, err := r.db.SQL.QueryContext(r.ctx, `SELECT leaf_index, hashes
		FROM audit_hashes WHERE leaf_index IN (`+strings.Join(leaves, ",")+`)`)
	if err != nil {
		return nil, fmt.Errorf("read stored hashes: %w", err)
	}
	defer rows.Close()
	out := map[int64][]byte{}
	for rows.Next() {
		var leaf int64
		var h []byte
		if err := rows.Scan(&leaf, &h); err != nil {
			return nil, fmt.Errorf("read stored hashes: %w", err)
		}
		out[leaf] = h
	}
	return out, rows.Err()
}
