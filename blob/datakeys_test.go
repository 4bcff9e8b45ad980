package blob_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/devmesh/devmesh/blob"
	"github.com/devmesh/devmesh/blob/blobtest"
	"github.com/devmesh/devmesh/internal/testenv"
)

func TestMemDataKeysConformance(t *testing.T) {
	blobtest.RunDataKeys(t, func(t *testing.T) blob.DataKeys { return &blob.MemDataKeys{} })
}

func TestSQLiteDataKeysConformance(t *testing.T) {
	blobtest.RunDataKeys(t, func(t *testing.T) blob.DataKeys {
		return blob.NewSQLDataKeys(sqliteWithKeys(t), blob.QuestionMark, nil)
	})
}

func TestPostgresDataKeysConformance(t *testing.T) {
	testenv.PostgresURL(t) // skip early when there is no server
	blobtest.RunDataKeys(t, func(t *testing.T) blob.DataKeys {
		return blob.NewSQLDataKeys(postgresWithKeys(t), blob.Dollar, nil)
	})
}

// TestSQLiteStoreEndToEnd runs the blob conformance suite with data keys
// in SQLite, as the embedded default does.
func TestSQLiteStoreEndToEnd(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blobtest.Fixture {
		opts := encrypted(t)
		opts.DataKeys = blob.NewSQLDataKeys(sqliteWithKeys(t), blob.QuestionMark, nil)
		return localFixture(t, opts)
	})
}

// migrationUp returns the Up section of a goose migration file.
func migrationUp(t *testing.T, dialect string) string {
	t.Helper()
	path := filepath.Join("..", "store", "migrations", dialect, "00004_blob_keys.sql")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, up, ok := strings.Cut(string(b), "-- +goose Up")
	up, _, ok2 := strings.Cut(up, "-- +goose Down")
	if !ok || !ok2 {
		t.Fatalf("%s: want -- +goose Up and -- +goose Down sections", path)
	}
	return up
}

func sqliteWithKeys(t *testing.T) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "devmesh.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(t.Context(), migrationUp(t, "sqlite")); err != nil {
		t.Fatalf("apply sqlite migration: %v", err)
	}
	return db
}

func postgresWithKeys(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(t.Context(), migrationUp(t, "postgres")); err != nil {
		t.Fatalf("apply postgres migration: %v", err)
	}
	return db
}
