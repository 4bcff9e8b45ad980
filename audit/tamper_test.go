package audit

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/devmesh/devmesh/store"
)

var auditTables = []string{"audit_events", "audit_hashes", "audit_tree_heads", "audit_checkpoints"}

// tamper runs stmts behind the database's back, as an attacker with the
// database's owner or superuser rights would: on SQLite it drops the
// append-only triggers and recreates them, on PostgreSQL it disables and
// re-enables them.
func tamper(t *testing.T, db *store.DB, stmts ...string) {
	t.Helper()
	ctx := t.Context()
	var err error
	if db.Dialect == store.Postgres {
		err = tamperPostgres(ctx, db, stmts)
	} else {
		err = tamperSQLite(ctx, db, stmts)
	}
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

func tamperSQLite(ctx context.Context, db *store.DB, stmts []string) error {
	rows, err := db.SQL.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger'`)
	if err != nil {
		return err
	}
	triggers := map[string]string{}
	for rows.Next() {
		var name, sql string
		if err := rows.Scan(&name, &sql); err != nil {
			return err
		}
		triggers[name] = sql
	}
	rows.Close()
	for name := range triggers {
		stmts = append([]string{"DROP TRIGGER " + name}, stmts...)
	}
	for _, sql := range triggers {
		stmts = append(stmts, sql)
	}
	for _, q := range stmts {
		if _, err := db.SQL.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

func tamperPostgres(ctx context.Context, db *store.DB, stmts []string) error {
	var all []string
	for _, tbl := range auditTables {
		all = append(all, "ALTER TABLE "+tbl+" DISABLE TRIGGER USER")
	}
	all = append(all, stmts...)
	for _, tbl := range auditTables {
		all = append(all, fmt.Sprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s_append_only", tbl, tbl),
			fmt.Sprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s_no_truncate", tbl, tbl))
	}
	for _, q := range all {
		if _, err := db.SQL.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

func wantVerifyError(t *testing.T, db *store.DB, index int64) {
	t.Helper()
	err := Verify(t.Context(), db, testVerifierKey(t), nil)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Index != index {
		t.Fatalf("Verify = %v, want an error naming event %d", err, index)
	}
}

// seedTen appends ten events of e's submission, one per batch, and signs
// a checkpoint of all ten.
func seedTen(t *testing.T, e *env) {
	t.Helper()
	for i := range 10 {
		mustAppend(t, e.log, entry(e.sub, fmt.Sprint(i), i))
	}
	if _, err := e.log.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustVerifyTree(t, e.db)
}

func TestTamperedPayloadIsDetected(t *testing.T) {
	forBackends(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		seedTen(t, e)
		before := e.receiptsJSON(t)
		tamper(t, db, `UPDATE audit_events SET payload = '{"data":"line X"}' WHERE idx = 4`)

		wantVerifyError(t, db, 4)
		if _, err := VerifyReceipts(before, testVerifierKey(t)); err != nil {
			t.Errorf("receipts issued before the edit no longer verify: %v", err)
		}
		after := e.receiptsJSON(t)
		n, err := VerifyReceipts(after, testVerifierKey(t))
		if err == nil || n != 4 {
			t.Errorf("VerifyReceipts after the edit = %d, %v; want a failure at receipt 4", n, err)
		}
	})
}

func TestDroppedTailIsDetected(t *testing.T) {
	forBackends(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		seedTen(t, e)
		tamper(t, db,
			`DELETE FROM audit_events WHERE idx >= 7`,
			`DELETE FROM audit_hashes WHERE leaf_index >= 7`,
			`DELETE FROM audit_tree_heads WHERE tree_size > 7`)
		wantVerifyError(t, db, 7)
	})
}

func TestTamperedHashIsDetected(t *testing.T) {
	forBackends(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		seedTen(t, e)
		// Event 5 is odd: its row also holds the hash of subtree [4, 6).
		tamper(t, db, `DELETE FROM audit_hashes WHERE leaf_index = 5`)
		wantVerifyError(t, db, 5)
	})
}

func TestForgedCheckpointIsDetected(t *testing.T) {
	db := mustSQLite(t)
	e := newEnv(t, db)
	seedTen(t, e)
	other := mustSigner(t) // same origin, another key
	l := mustLog(t, db, Options{Signer: other})
	mustAppend(t, l, entry(e.sub, "extra", 11))
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := Verify(t.Context(), db, testVerifierKey(t), nil); err == nil {
		t.Fatal("Verify accepted a checkpoint signed with another key")
	}
}

// receiptsJSON fetches the submission's events with receipts.
func (e *env) receiptsJSON(t *testing.T) []byte {
	t.Helper()
	st, body := e.do(t, "GET", "/api/v1/submissions/"+e.sub+"/events", "recruiter:"+e.org, nil, nil)
	if st != 200 {
		t.Fatalf("events: %d %s", st, body)
	}
	return body
}
