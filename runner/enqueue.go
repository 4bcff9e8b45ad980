package runner

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/devmesh/devmesh/store"
)

// enqueuer records a run and inserts its job in one transaction, so a
// run row never lacks its job and a job never lacks its row.
type enqueuer interface {
	enqueue(ctx context.Context, r Run, args RunArgs) (int64, error)
}

// newEnqueuer returns an insert-only River client on db's dialect.
func newEnqueuer(db *store.DB, log *slog.Logger) (enqueuer, error) {
	cfg := &river.Config{Logger: quiet(log)}
	if db.Dialect == store.Postgres {
		c, err := river.NewClient(riverpgxv5.New(db.Pool), cfg)
		return pgEnqueuer{db: db, client: c}, err
	}
	c, err := river.NewClient(riversqlite.New(db.SQL), cfg)
	return sqliteEnqueuer{db: db, client: c}, err
}

type sqliteEnqueuer struct {
	db     *store.DB
	client *river.Client[*sql.Tx]
}

func (q sqliteEnqueuer) enqueue(ctx context.Context, r Run, args RunArgs) (int64, error) {
	vals, err := insertRunArgs(r)
	if err != nil {
		return 0, err
	}
	var id int64
	err = q.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, insertRunSQL, vals...); err != nil {
			return fmt.Errorf("record run: %w", err)
		}
		res, err := q.client.InsertTx(ctx, tx, args, nil)
		if err != nil {
			return fmt.Errorf("enqueue run: %w", err)
		}
		id = res.Job.ID
		_, err = tx.ExecContext(ctx, `UPDATE runs SET job_id = ? WHERE id = ?`, id, r.ID)
		return err
	})
	return id, err
}

type pgEnqueuer struct {
	db     *store.DB
	client *river.Client[pgx.Tx]
}

func (q pgEnqueuer) enqueue(ctx context.Context, r Run, args RunArgs) (int64, error) {
	vals, err := insertRunArgs(r)
	if err != nil {
		return 0, err
	}
	var id int64
	err = pgx.BeginFunc(ctx, q.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, q.db.Rebind(insertRunSQL), vals...); err != nil {
			return fmt.Errorf("record run: %w", err)
		}
		res, err := q.client.InsertTx(ctx, tx, args, nil)
		if err != nil {
			return fmt.Errorf("enqueue run: %w", err)
		}
		id = res.Job.ID
		_, err = tx.Exec(ctx, `UPDATE runs SET job_id = $1 WHERE id = $2`, id, r.ID)
		return err
	})
	return id, err
}
