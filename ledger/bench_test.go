package ledger_test

import (
	"path/filepath"
	"testing"

	"github.com/devmesh/devmesh/ledger"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

// BenchmarkReserveSettle is one request's ledger work on a durable
// SQLite file: a reservation and its settlement, two synchronous
// commits.
func BenchmarkReserveSettle(b *testing.B) {
	db := storetest.MustOpen(b, filepath.Join(b.TempDir(), "devmesh.db"))
	l, sub := mustAccountB(b, db)
	ctx := b.Context()
	for b.Loop() {
		r, err := l.Reserve(ctx, sub, 100)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Settle(ctx, r.ID, ledger.Usage{InputTokens: 20, OutputTokens: 3}); err != nil {
			b.Fatal(err)
		}
	}
}

func mustAccountB(b *testing.B, db *store.DB) (*ledger.Ledger, string) {
	return mustAccount(b, db, 1<<50)
}
