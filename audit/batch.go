package audit

import (
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// clientKey identifies an event by its client's id: retries of the same
// key get the original ack.
type clientKey struct{ sub, id string }

// writeTx is one dialect's view of the append transaction. lock must
// serialise every writer of the log, so that reading the tree size and
// the right edge and writing the next leaves happen as one step: two
// processes can then never fork the tree or reuse an index.
type writeTx interface {
	lock(ctx context.Context) error
	treeSize(ctx context.Context) (int64, error)
	hashRows(ctx context.Context, leaves []int64) (map[int64][]byte, error)
	existing(ctx context.Context, keys []clientKey) (map[clientKey]Ack, error)
	lastSeqs(ctx context.Context, subs []string) (map[string]int64, error)
	insert(ctx context.Context, b *batch) error
}

// batch is what one transaction appends.
type batch struct {
	events []Event
	hashes [][]byte // stored hash row per event
	size   int64    // tree size after the batch
	root   tlog.Hash
	now    time.Time
}

// appendTx appends entries inside tx and returns one ack per entry. The
// caller commits; acks are valid only after the commit succeeds.
func appendTx(ctx context.Context, tx writeTx, entries []Entry, now time.Time) ([]Ack, *batch, error) {
	if err := tx.lock(ctx); err != nil {
		return nil, nil, fmt.Errorf("lock audit log: %w", err)
	}
	size, err := tx.treeSize(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read tree size: %w", err)
	}
	known, err := tx.existing(ctx, clientKeys(entries))
	if err != nil {
		return nil, nil, fmt.Errorf("look up client event ids: %w", err)
	}
	seqs, err := tx.lastSeqs(ctx, submissionsOf(entries))
	if err != nil {
		return nil, nil, fmt.Errorf("read sequence numbers: %w", err)
	}
	f, err := loadFrontier(ctx, tx, size)
	if err != nil {
		return nil, nil, err
	}
	b := &batch{now: now}
	acks := assign(entries, known, seqs, f, b)
	b.size, b.root = f.size, f.root()
	if len(b.events) == 0 {
		return acks, b, nil
	}
	if err := tx.insert(ctx, b); err != nil {
		return nil, nil, fmt.Errorf("insert audit events: %w", err)
	}
	return acks, b, nil
}

func loadFrontier(ctx context.Context, tx writeTx, size int64) (*frontier, error) {
	var leaves []int64
	for _, leaf := range frontierLeaves(size) {
		leaves = append(leaves, leaf)
	}
	rows, err := tx.hashRows(ctx, leaves)
	if err != nil {
		return nil, fmt.Errorf("read right edge of the tree: %w", err)
	}
	f, err := newFrontier(size, rows)
	if err != nil {
		return nil, fmt.Errorf("read right edge of the tree: %w", err)
	}
	return f, nil
}

// assign gives each new entry its index, sequence number and hashes, and
// each retried entry its original ack.
func assign(entries []Entry, known map[clientKey]Ack, seqs map[string]int64, f *frontier, b *batch) []Ack {
	acks := make([]Ack, len(entries))
	for i, e := range entries {
		key := clientKey{e.SubmissionID, e.ClientID}
		if ack, ok := known[key]; ok && e.ClientID != "" {
			acks[i] = ack
			continue
		}
		seqs[e.SubmissionID]++
		ev := Event{Index: f.size, SubmissionID: e.SubmissionID,
			Seq: seqs[e.SubmissionID], Kind: e.Kind, Actor: e.Actor,
			ServerTime: b.now, ClientTime: e.ClientTime,
			ClientID: e.ClientID, Payload: e.Payload}
		b.events = append(b.events, ev)
		b.hashes = append(b.hashes, joinHashes(f.push(ev.LeafHash())))
		acks[i] = Ack{Index: ev.Index, Seq: ev.Seq}
		if e.ClientID != "" {
			known[key] = acks[i]
		}
	}
	return acks
}

func clientKeys(entries []Entry) []clientKey {
	seen := map[clientKey]bool{}
	var out []clientKey
	for _, e := range entries {
		k := clientKey{e.SubmissionID, e.ClientID}
		if e.ClientID != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func submissionsOf(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.SubmissionID)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
