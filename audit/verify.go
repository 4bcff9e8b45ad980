package audit

import (
	"bytes"
	"context"
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

// verifyRange is how many leaves one read of the log covers; reads of
// successive ranges run in parallel, verifyReaders at a time.
const (
	verifyRange   = 8192
	verifyReaders = 3
)

// segment is one range of events and their stored hash rows.
type segment struct {
	events []Event
	leaves []tlog.Hash // leaf hash of each event, computed by the reader
	hashes []hashRow
	err    error
}

// recompute reads every event and every stored hash row in index order,
// recomputes each leaf and its stored hashes, compares them with the
// stored ones, and returns the root at each wanted size it reached and
// the number of events. Ranges are read in parallel and checked in
// order.
func recompute(ctx context.Context, db *store.DB, progress Progress, want map[int64]bool) (map[int64]tlog.Hash, int64, error) {
	var total, end int64
	err := db.SQL.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(idx) + 1, 0)
		FROM audit_events`).Scan(&total, &end)
	if err != nil {
		return nil, 0, fmt.Errorf("count events: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	order := readSegments(ctx, db, end)

	roots := map[int64]tlog.Hash{}
	var f frontier
	for next := range order {
		seg := <-next
		if seg.err != nil {
			return nil, 0, seg.err
		}
		if err := recomputeSegment(seg, &f, want, roots); err != nil {
			return nil, 0, err
		}
		if progress != nil {
			progress(f.size, total)
		}
	}
	return roots, f.size, nil
}

// readSegments starts reading [0, end) in ranges and returns, in range
// order, a channel per range that will carry it.
func readSegments(ctx context.Context, db *store.DB, end int64) <-chan chan segment {
	order := make(chan chan segment, verifyReaders)
	sem := make(chan struct{}, verifyReaders)
	go func() {
		defer close(order)
		for lo := int64(0); lo < end; lo += verifyRange {
			out := make(chan segment, 1)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				out <- readSegment(ctx, db, lo, lo+verifyRange)
				<-sem
			}()
			select {
			case order <- out:
			case <-ctx.Done():
				return
			}
		}
	}()
	return order
}

func readSegment(ctx context.Context, db *store.DB, lo, hi int64) segment {
	var seg segment
	seg.events, seg.err = queryAll(ctx, db, `SELECT `+eventCols+` FROM audit_events
		WHERE idx >= ? AND idx < ? ORDER BY idx`, scanEvent, lo, hi)
	if seg.err == nil {
		seg.hashes, seg.err = queryAll(ctx, db, `SELECT leaf_index, hashes FROM audit_hashes
			WHERE leaf_index >= ? AND leaf_index < ? ORDER BY leaf_index`, scanHashRow, lo, hi)
	}
	seg.leaves = make([]tlog.Hash, len(seg.events))
	for i := range seg.events {
		seg.leaves[i] = seg.events[i].LeafHash()
	}
	return seg
}

func queryAll[T any](ctx context.Context, db *store.DB, q string, scan func(interface{ Scan(...any) error }) (T, error), args ...any) ([]T, error) {
	rows, err := db.SQL.QueryContext(ctx, db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		out = append(out, item)
	}
	return out, rows.Err()
}

// recomputeSegment checks one range, pairing events with hash rows by
// index.
func recomputeSegment(seg segment, f *frontier, want map[int64]bool, roots map[int64]tlog.Hash) error {
	hs := seg.hashes
	for i, e := range seg.events {
		for len(hs) > 0 && hs[0].leaf < e.Index {
			hs = hs[1:]
		}
		var h hashRow
		if len(hs) > 0 {
			h = hs[0]
		}
		if err := recomputeOne(e, seg.leaves[i], h, f); err != nil {
			return err
		}
		if want[f.size] {
			roots[f.size] = f.root()
		}
	}
	return nil
}

type hashRow struct {
	leaf   int64
	hashes []byte
}

func scanHashRow(row interface{ Scan(...any) error }) (hashRow, error) {
	var h hashRow
	err := row.Scan(&h.leaf, &h.hashes)
	return h, err
}

func recomputeOne(e Event, leaf tlog.Hash, h hashRow, f *frontier) error {
	if e.Index != f.size {
		return &VerifyError{Index: f.size, Reason: fmt.Sprintf("missing (next stored event is %d)", e.Index)}
	}
	if h.hashes == nil || h.leaf != e.Index {
		return &VerifyError{Index: e.Index, Reason: "stored hashes missing"}
	}
	got := joinHashes(f.push(leaf))
	if !bytes.Equal(got[:tlog.HashSize], h.hashes[:min(len(h.hashes), tlog.HashSize)]) {
		return &VerifyError{Index: e.Index, Reason: "event does not match its stored leaf hash"}
	}
	if !bytes.Equal(got, h.hashes) {
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
