package audit

import (
	"context"
	"strings"
	"testing"

	"github.com/devmesh/devmesh/internal/testenv"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

// changes are statements that would rewrite history; the database must
// refuse each of them.
var changes = []string{
	`UPDATE audit_events SET payload = '{"data":"forged"}' WHERE idx = 0`,
	`DELETE FROM audit_events WHERE idx = 1`,
	`UPDATE audit_hashes SET hashes = hashes WHERE leaf_index = 0`,
	`DELETE FROM audit_hashes`,
	`UPDATE audit_tree_heads SET tree_size = tree_size + 1`,
	`DELETE FROM audit_tree_heads`,
	`UPDATE audit_checkpoints SET note = 'x'`,
	`DELETE FROM audit_checkpoints`,
}

// seedLog appends a few events and signs a checkpoint.
func seedLog(t *testing.T, db *store.DB) *Log {
	t.Helper()
	l := mustLog(t, db, Options{Signer: testSigner(t)})
	mustAppend(t, l, entry("sub_a", "1", 1), entry("sub_a", "2", 2), entry("sub_b", "1", 3))
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDatabaseRefusesRewrites(t *testing.T) {
	forBackends(t, func(t *testing.T, db *store.DB) {
		seedLog(t, db)
		stmts := changes
		if db.Dialect == store.Postgres {
			stmts = append(stmts, truncates...)
		}
		for _, q := range stmts {
			_, err := db.SQL.ExecContext(t.Context(), q)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want an append-only refusal", q, err)
			}
		}
		mustVerifyTree(t, db)
	})
}

var truncates = []string{
	`TRUNCATE audit_events CASCADE`,
	`TRUNCATE audit_hashes`,
	`TRUNCATE audit_tree_heads`,
	`TRUNCATE audit_checkpoints`,
}

// TestReplicaRoleDoesNotBypassTriggers: session_replication_role=replica
// switches off ordinary triggers; ours are enabled ALWAYS.
func TestReplicaRoleDoesNotBypassTriggers(t *testing.T) {
	db := storetest.MustOpen(t, testenv.PostgresURL(t))
	seedLog(t, db)
	ctx := t.Context()
	for _, q := range append(changes, truncates...) {
		err := asReplica(ctx, db, q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("as replica, %s: got %v, want an append-only refusal", q, err)
		}
	}
	mustVerifyTree(t, db)
}

func asReplica(ctx context.Context, db *store.DB, q string) error {
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, q)
	return err
}

// TestTwoProcessesShareOneTree runs two Logs, standing for two server
// processes, on one PostgreSQL database: the advisory lock must keep them
// from forking the tree or reusing an index.
func TestTwoProcessesShareOneTree(t *testing.T) {
	url := testenv.PostgresURL(t)
	db1, db2 := storetest.MustOpen(t, url), storetest.MustOpen(t, url)
	logs := []*Log{mustLog(t, db1, Options{MaxBatch: 16}), mustLog(t, db2, Options{MaxBatch: 16})}
	const subs, per = 16, 30
	acks := appendConcurrently(t, logs, subs, per)
	checkAcks(t, acks, subs*per)
	mustVerifyTree(t, db1)
}
