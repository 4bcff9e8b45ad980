package audit

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"

	"github.com/devmesh/devmesh/store"
	"golang.org/x/mod/sumdb/tlog"
)

// Progress is told how many of total events Verify has checked so far.
type Progress func(done, total int64)

// VerifyError names the first leaf index at which the log is wrong.
type VerifyError struct {
	Index  int64
	Reason string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("audit log is invalid at event %d: %s", e.Index, e.Reason)
}

// Verify recomputes every leaf and the whole tree from the stored events,
// compares them with the stored hashes and tree heads, and checks every
// stored checkpoint: its signature against verifierKey, its root against
// the recomputed tree (so a checkpoint larger than the log reveals dropped
// events), and its consistency with every earlier checkpoint. It returns
// a *VerifyError naming the first bad index, or the checkpoint's size
// when events after it are missing.
func Verify(ctx context.Context, db *store.DB, verifierKey string, progress Progress) error {
	cps, err := storedCheckpoints(ctx, db, verifierKey)
	if err != nil {
		return err
	}
	heads, err := storedHeads(ctx, db)
	if err != nil {
		return err
	}
	roots, final, err := recompute(ctx, db, progress, wantedSizes(cps, heads))
	if err != nil {
		return err
	}
	if err := checkHeads(heads, roots, final); err != nil {
		return err
	}
	return checkCheckpoints(cps, roots, final)
}

func wantedSizes(cps []Checkpoint, heads map[int64]tlog.Hash) map[int64]bool {
	out := map[int64]bool{}
	for _, c := range cps {
		out[c.Size] = true
	}
	for s := range heads {
		out[s] = true
	}
	return out
}

// recompute streams every event in index order, recomputes its leaf and
// stored hashes, compares them with the stored ones, and returns the root
// at each wanted size it reached, and the number of events.
func recompute(ctx context.Context, db *store.DB, progress Progress, want map[int64]bool) (map[int64]tlog.Hash, int64, error) {
	var total int64
	if err := db.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count events: %w", err)
	}
	rows, err := db.SQL.QueryContext(ctx, `SELECT e.idx, e.submission_id, e.seq, e.kind,
		e.actor, e.server_time, e.client_time, e.client_id, e.payload, h.hashes
		FROM audit_events e LEFT JOIN audit_hashes h ON h.leaf_index = e.idx
		ORDER BY e.idx`)
	if err != nil {
		return nil, 0, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	roots := map[int64]tlog.Hash{}
	var f frontier
	for rows.Next() {
		if err := recomputeOne(rows, &f); err != nil {
			return nil, 0, err
		}
		if want[f.size] {
			roots[f.size] = f.root()
		}
		if progress != nil && (f.size%65536 == 0 || f.size == total) {
			progress(f.size, total)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read events: %w", err)
	}
	return roots, f.size, nil
}

func recomputeOne(rows *sql.Rows, f *frontier) error {
	var stored []byte
	var e Event
	var client sql.NullTime
	var cid sql.NullString
	var payload sql.RawBytes
	err := rows.Scan(&e.Index, &e.SubmissionID, &e.Seq, &e.Kind, &e.Actor,
		&e.ServerTime, &client, &cid, &payload, &stored)
	if err != nil {
		return &VerifyError{Index: f.size, Reason: fmt.Sprintf("unreadable: %v", err)}
	}
	if client.Valid {
		ct := client.Time
		e.ClientTime = &ct
	}
	e.ClientID, e.Payload = cid.String, []byte(payload)
	if e.Index != f.size {
		return &VerifyError{Index: f.size, Reason: fmt.Sprintf("missing (next stored event is %d)", e.Index)}
	}
	got := joinHashes(f.push(e.LeafHash()))
	if stored == nil {
		return &VerifyError{Index: e.Index, Reason: "stored hashes missing"}
	}
	if !bytes.Equal(got[:tlog.HashSize], stored[:min(len(stored), tlog.HashSize)]) {
		return &VerifyError{Index: e.Index, Reason: "event does not match its stored leaf hash"}
	}
	if !bytes.Equal(got, stored) {
		return &VerifyError{Index: e.Index, Reason: "stored tree hashes do not match the recomputed tree"}
	}
	return nil
}

func checkHeads(heads, roots map[int64]tlog.Hash, final int64) error {
	for size, root := range heads {
		if size > final {
			return &VerifyError{Index: final, Reason: fmt.Sprintf("missing: a tree head records size %d", size)}
		}
		if roots[size] != root {
			return &VerifyError{Index: size - 1, Reason: fmt.Sprintf("tree head of size %d does not match the recomputed root", size)}
		}
	}
	return nil
}

func checkCheckpoints(cps []Checkpoint, roots map[int64]tlog.Hash, final int64) error {
	for i, c := range cps {
		if c.Size > final {
			return &VerifyError{Index: final, Reason: fmt.Sprintf(
				"missing: signed checkpoint covers %d events, the log holds %d", c.Size, final)}
		}
		if roots[c.Size] != c.Root {
			return &VerifyError{Index: c.Size - 1, Reason: fmt.Sprintf(
				"signed checkpoint of size %d does not match the recomputed root", c.Size)}
		}
		if i > 0 && cps[i-1].Size > c.Size {
			return fmt.Errorf("checkpoints out of order at size %d", c.Size)
		}
	}
	return nil
}

// storedCheckpoints reads every checkpoint in size order and checks its
// signature.
func storedCheckpoints(ctx context.Context, db *store.DB, verifierKey string) ([]Checkpoint, error) {
	rows, err := db.SQL.QueryContext(ctx, `SELECT tree_size, note FROM audit_checkpoints ORDER BY tree_size`)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var size int64
		var signed string
		if err := rows.Scan(&size, &signed); err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		c, err := OpenCheckpoint([]byte(signed), verifierKey)
		if err != nil {
			return nil, fmt.Errorf("checkpoint of size %d: %w", size, err)
		}
		if c.Size != size {
			return nil, fmt.Errorf("checkpoint stored as size %d says size %d", size, c.Size)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func storedHeads(ctx context.Context, db *store.DB) (map[int64]tlog.Hash, error) {
	rows, err := db.SQL.QueryContext(ctx, `SELECT tree_size, root_hash FROM audit_tree_heads`)
	if err != nil {
		return nil, fmt.Errorf("read tree heads: %w", err)
	}
	defer rows.Close()
	out := map[int64]tlog.Hash{}
	for rows.Next() {
		var size int64
		var root []byte
		if err := rows.Scan(&size, &root); err != nil {
			return nil, fmt.Errorf("read tree heads: %w", err)
		}
		var h tlog.Hash
		copy(h[:], root)
		out[size] = h
	}
	return out, rows.Err()
}
