// Package store keeps DevMesh's relational state: organisations, recruiter
// accounts, task versions, assessments and submissions, and the tables that
// the audit log, the token ledger and the job queue add.
//
// One implementation of the domain queries serves two databases through
// database/sql: SQLite (modernc.org/sqlite, the embedded default) and
// PostgreSQL (pgx, pooled, for production). Queries are written once with
// '?' placeholders and rebound for PostgreSQL; where the dialects differ
// (schema, locking, bulk insert), each has its own code path and its own
// migrations. The conformance suite in store/storetest runs against both.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Dialect names the SQL database behind a DB.
type Dialect int

// Supported dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// Options are the dependencies a DB is given rather than reaching for
// globals, so tests can pin them.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time // defaults to time.Now
	Rand   io.Reader        // defaults to crypto/rand.Reader
	// MaxConns bounds the connection pool; 0 picks a default.
	MaxConns int
}

// DB is an open database. It is safe for concurrent use.
type DB struct {
	SQL     *sql.DB
	Dialect Dialect
	// Pool is the pgx pool behind SQL on PostgreSQL, for COPY and for
	// libraries that take a pool; nil on SQLite.
	Pool *pgxpool.Pool

	log  *slog.Logger
	now  func() time.Time
	rand io.Reader
}

// Open connects to the database named by url: "postgres://..." or
// "postgresql://..." for PostgreSQL; "sqlite:PATH", "file:PATH" or a plain
// path for SQLite. It does not migrate; call Migrate.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		db, err = openPostgres(ctx, url, opts)
	case url == "":
		return nil, fmt.Errorf("open database: empty database url")
	default:
		db, err = openSQLite(ctx, sqlitePath(url), opts)
	}
	if err != nil {
		return nil, err
	}
	db.log, db.now, db.rand = opts.Logger, opts.Now, opts.Rand
	return db, nil
}

func sqlitePath(url string) string {
	for _, p := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if strings.HasPrefix(url, p) {
			return strings.TrimPrefix(url, p)
		}
	}
	return url
}

func openSQLite(ctx context.Context, path string, opts Options) (*DB, error) {
	// WAL lets readers proceed while one writer commits; synchronous=FULL
	// makes every commit durable; foreign keys are off by default in
	// SQLite; the busy timeout turns writer contention into waiting;
	// _txlock=immediate takes the write lock at BEGIN, so two writers
	// queue instead of failing later with SQLITE_BUSY on lock upgrade;
	// secure_delete overwrites deleted content, so a shredded data key
	// does not linger in free pages.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=busy_timeout(15000)" +
		"&_pragma=synchronous(FULL)&_pragma=secure_delete(1)&_txlock=immediate"
	registerTracedSQLite()
	sqldb, err := sql.Open(tracedSQLite, dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	n := opts.MaxConns
	if n == 0 {
		n = 8
	}
	sqldb.SetMaxOpenConns(n)
	sqldb.SetMaxIdleConns(n)
	sqldb.SetConnMaxIdleTime(0)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	var fk int
	if err := sqldb.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		sqldb.Close()
		return nil, fmt.Errorf("open sqlite %q: foreign keys not enabled", path)
	}
	return &DB{SQL: sqldb, Dialect: SQLite}, nil
}

func openPostgres(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The url may hold a password: never echo it.
		return nil, fmt.Errorf("open postgres: invalid database url")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(opts.MaxConns)
	} else if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	cfg.ConnConfig.Tracer = newPGTracer()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", redactURL(cfg), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redactURL(cfg), err)
	}
	return &DB{SQL: stdlib.OpenDBFromPool(pool), Dialect: Postgres, Pool: pool}, nil
}

func redactURL(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("host=%s port=%d db=%s user=%s", c.Host, c.Port, c.Database, c.User)
}

// Close releases the database.
func (db *DB) Close() error {
	err := db.SQL.Close()
	if db.Pool != nil {
		db.Pool.Close()
	}
	return err
}

// Now returns the database layer's clock reading, in UTC.
func (db *DB) Now() time.Time { return db.now().UTC() }

// Rebind rewrites '?' placeholders as $1, $2, ... on PostgreSQL. Queries
// must not contain '?' inside string literals.
func (db *DB) Rebind(q string) string {
	if db.Dialect != Postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.SQL.PingContext(ctx) }

// Querier is what both *sql.DB and *sql.Tx offer.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// InTx runs fn in a transaction, committing if it returns nil and rolling
// back otherwise.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
