package runner

import (
	"context"
	"fmt"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/workspace"
)

// rebuildPage is how many events one read of the log returns.
const rebuildPage = 1000

// Rebuild returns the workspace of submission sub after the event with
// sequence number seq, from the log alone: an empty tree with every
// editor.ops event of the submission up to seq applied in order. The
// task's starter files are in the log too, as the create ops logged when
// the submission opened, so this is the same rule audit's replay uses.
// Events never change, so the same seq always gives the same tree. An op
// that does not apply is an error naming the event: the log is the
// truth, and a workspace that cannot be rebuilt from it must not be run
// or submitted.
func Rebuild(ctx context.Context, db *store.DB, sub string, seq int64) (*workspace.Tree, error) {
	t := workspace.NewTree(workspace.Limits{})
	if err := applyEvents(ctx, db, t, sub, 0, seq); err != nil {
		return nil, err
	}
	return t, nil
}

// applyEvents applies to t the editor ops of sub with sequence numbers
// in (after, upTo].
func applyEvents(ctx context.Context, db *store.DB, t *workspace.Tree, sub string, after, upTo int64) error {
	for from := after; from < upTo; {
		evs, err := audit.ReadEvents(ctx, db, sub, from, rebuildPage)
		if err != nil {
			return fmt.Errorf("rebuild workspace: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		for _, e := range evs {
			if e.Seq > upTo {
				return nil
			}
			if err := applyOp(t, e); err != nil {
				return err
			}
			from = e.Seq
		}
	}
	return nil
}

func applyOp(t *workspace.Tree, e audit.Event) error {
	if e.Kind != audit.KindEditorOps {
		return nil
	}
	op, err := workspace.DecodeOp(e.Payload)
	if err == nil {
		err = t.Apply(op)
	}
	if err != nil {
		return fmt.Errorf("rebuild workspace: event %d (seq %d): %w", e.Index, e.Seq, err)
	}
	return nil
}

// LastSeq returns the sequence number of the submission's latest event,
// 0 when it has none.
func LastSeq(ctx context.Context, db *store.DB, sub string) (int64, error) {
	var seq int64
	err := db.SQL.QueryRowContext(ctx, db.Rebind(`SELECT COALESCE(MAX(seq), 0)
		FROM audit_events WHERE submission_id = ?`), sub).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("read last event of %q: %w", sub, err)
	}
	return seq, nil
}
