package audit

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/workspace"
)

// editLocks serialise check-then-append of editor operations per
// submission within one process, so two concurrent batches cannot both
// be checked against the same workspace. Striped by submission id so the
// table stays fixed in size.
type editLocks [64]sync.Mutex

func (l *editLocks) of(sub string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(sub))
	return &l[h.Sum32()%uint32(len(l))]
}

// checkEdits applies the batch's new editor operations, in order, to a
// copy of the workspace the log rebuilds at the submission's last event.
// An operation that does not apply (a file that does not exist, a range
// past its end, a budget exceeded) is refused now, with the event's index
// and id, rather than accepted into the log where it would break every
// later run and replay. Events whose client id the log already holds are
// retries and are skipped: they were checked when first accepted.
func (a *API) checkEdits(ctx context.Context, sub string, events []ClientEvent) error {
	var edits []int
	for i, e := range events {
		if e.Kind == KindEditorOps {
			edits = append(edits, i)
		}
	}
	if len(edits) == 0 {
		return nil
	}
	seen, last, err := a.knownClientIDs(ctx, sub, events)
	if err != nil {
		return err
	}
	base, err := a.replayer.Replay(ctx, sub, last)
	if err != nil {
		return errs.Wrap(errs.Conflict, err, "the submission's workspace cannot be rebuilt")
	}
	tree := base.Clone()
	for _, i := range edits {
		e := events[i]
		if seen[e.ID] {
			continue
		}
		op, err := workspace.DecodeOp(e.Payload)
		if err == nil {
			err = tree.Apply(op)
		}
		if err != nil {
			return errs.E(errs.Invalid, "event %d (id %q): %s", i, e.ID, clientMessage(err))
		}
	}
	return nil
}

// knownClientIDs returns which of the batch's client ids the log already
// holds for sub, and the submission's last sequence number.
func (a *API) knownClientIDs(ctx context.Context, sub string, events []ClientEvent) (map[string]bool, int64, error) {
	db := a.log.db
	var last sql.NullInt64
	err := db.SQL.QueryRowContext(ctx, db.Rebind(
		`SELECT MAX(seq) FROM audit_events WHERE submission_id = ?`), sub).Scan(&last)
	if err != nil {
		return nil, 0, fmt.Errorf("read last sequence of %q: %w", sub, err)
	}
	// One query for the whole batch: the ids are bounded by MaxBatchEvents.
	args := make([]any, 0, len(events)+1)
	args = append(args, sub)
	for _, e := range events {
		args = append(args, e.ID)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(events)), ", ")
	rows, err := db.SQL.QueryContext(ctx, db.Rebind(`SELECT client_id FROM audit_events
		WHERE submission_id = ? AND client_id IN (`+marks+`)`), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("look up client events of %q: %w", sub, err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, fmt.Errorf("look up client events of %q: %w", sub, err)
		}
		seen[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("look up client events of %q: %w", sub, err)
	}
	return seen, last.Int64, nil
}

// clientMessage is the client-safe text of an editor operation error.
func clientMessage(err error) string {
	if m := errs.Message(err); m != "" {
		return m
	}
	return err.Error()
}
