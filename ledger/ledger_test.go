package ledger_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/ledger"
	"github.com/devmesh/devmesh/ledger/ledgertest"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

func forEachBackend(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open(t)) })
	}
}

func mustAccount(t testing.TB, db *store.DB, budget int64) (*ledger.Ledger, string) {
	t.Helper()
	l := ledger.New(db)
	sub := ledgertest.MustSubmission(t, db)
	if err := l.Open(t.Context(), sub, budget); err != nil {
		t.Fatal(err)
	}
	return l, sub
}

func mustBalance(t *testing.T, l *ledger.Ledger, sub string) ledger.Balance {
	t.Helper()
	b, err := l.Balance(t.Context(), sub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantBalance(t *testing.T, l *ledger.Ledger, sub string, reserved, used int64) {
	t.Helper()
	b := mustBalance(t, l, sub)
	if b.Reserved != reserved || b.Used != used {
		t.Fatalf("balance reserved=%d used=%d, want reserved=%d used=%d", b.Reserved, b.Used, reserved, used)
	}
}

func TestReserveSettleRelease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		l, sub := mustAccount(t, db, 1000)

		r, err := l.Reserve(ctx, sub, 300)
		if err != nil || r.Remaining != 700 {
			t.Fatalf("Reserve = %+v, %v; want remaining 700", r, err)
		}
		wantBalance(t, l, sub, 300, 0)

		s, err := l.Settle(ctx, r.ID, ledger.Usage{InputTokens: 120, CachedInputTokens: 100, OutputTokens: 30})
		if err != nil || s.Charged != 150 || s.State != ledger.StateSettled || s.Repeat || s.Remaining != 850 {
			t.Fatalf("Settle = %+v, %v; want 150 charged (cached input at full weight), 850 remaining", s, err)
		}
		wantBalance(t, l, sub, 0, 150)

		r2, err := l.Reserve(ctx, sub, 500)
		if err != nil {
			t.Fatal(err)
		}
		if s, err := l.Release(ctx, r2.ID); err != nil || s.Charged != 0 || s.State != ledger.StateReleased {
			t.Fatalf("Release = %+v, %v", s, err)
		}
		wantBalance(t, l, sub, 0, 150)

		r3, err := l.Reserve(ctx, sub, 200)
		if err != nil {
			t.Fatal(err)
		}
		if s, err := l.Forfeit(ctx, r3.ID); err != nil || s.Charged != 200 {
			t.Fatalf("Forfeit = %+v, %v; want the whole 200 charged", s, err)
		}
		wantBalance(t, l, sub, 0, 350)
	})
}

func TestReservationClosesExactlyOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		l, sub := mustAccount(t, db, 1000)
		r, err := l.Reserve(ctx, sub, 100)
		if err != nil {
			t.Fatal(err)
		}
		first, err := l.Settle(ctx, r.ID, ledger.Usage{InputTokens: 10, OutputTokens: 5})
		if err != nil {
			t.Fatal(err)
		}
		for name, again := range map[string]func() (ledger.Settlement, error){
			"settle again":         func() (ledger.Settlement, error) { return l.Settle(ctx, r.ID, ledger.Usage{InputTokens: 90}) },
			"release after settle": func() (ledger.Settlement, error) { return l.Release(ctx, r.ID) },
			"forfeit after settle": func() (ledger.Settlement, error) { return l.Forfeit(ctx, r.ID) },
		} {
			s, err := again()
			if err != nil || !s.Repeat || s.Charged != first.Charged || s.State != ledger.StateSettled {
				t.Errorf("%s: %+v, %v; want the first outcome (15 settled) repeated", name, s, err)
			}
		}
		wantBalance(t, l, sub, 0, 15)
		_, err = l.Settle(ctx, "rsv_unknown", ledger.Usage{})
		if !errs.Is(err, errs.NotFound) {
			t.Errorf("settle unknown reservation: %v, want not found", err)
		}
	})
}

func TestOverReportedUsageIsCappedAtTheReservation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		l, sub := mustAccount(t, db, 100)
		r, err := l.Reserve(ctx, sub, 100)
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Settle(ctx, r.ID, ledger.Usage{InputTokens: 80, OutputTokens: 70})
		if err != nil || s.Charged != 100 || s.Overage != 50 {
			t.Fatalf("Settle = %+v, %v; want 100 charged, 50 overage", s, err)
		}
		if b := mustBalance(t, l, sub); b.Used > b.Budget {
			t.Fatalf("used %d exceeds budget %d", b.Used, b.Budget)
		}
	})
}

func TestRefusedReservationChangesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		l, sub := mustAccount(t, db, 100)
		if _, err := l.Reserve(ctx, sub, 60); err != nil {
			t.Fatal(err)
		}
		_, err := l.Reserve(ctx, sub, 41)
		if !errs.Is(err, errs.Exhausted) || !errors.Is(err, ledger.ErrExhausted) {
			t.Fatalf("over-budget reservation: %v, want exhausted", err)
		}
		if msg := errs.Message(err); msg == "" {
			t.Error("refusal carries no client message")
		}
		wantBalance(t, l, sub, 60, 0)
		if _, err := l.Reserve(ctx, sub, 40); err != nil {
			t.Fatalf("reservation that fits exactly: %v", err)
		}
		_, err = l.Reserve(ctx, "sub_missing", 1)
		if !errs.Is(err, errs.Exhausted) && !errs.Is(err, errs.NotFound) {
			t.Fatalf("reserve on missing account: %v", err)
		}
		for _, bad := range []int64{0, -5} {
			if _, err := l.Reserve(ctx, sub, bad); !errs.Is(err, errs.Invalid) {
				t.Errorf("Reserve(%d): %v, want invalid", bad, err)
			}
		}
	})
}

func TestOpenKeepsTheFirstBudget(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		l, sub := mustAccount(t, db, 100)
		if err := l.Open(t.Context(), sub, 5000); err != nil {
			t.Fatal(err)
		}
		if b := mustBalance(t, l, sub); b.Budget != 100 {
			t.Fatalf("budget = %d after reopening, want 100", b.Budget)
		}
	})
}

func TestForfeitStale(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		l, sub := mustAccount(t, db, 1000)
		old, err := l.Reserve(ctx, sub, 100)
		if err != nil {
			t.Fatal(err)
		}
		closed, err := l.ForfeitStale(ctx, time.Now().Add(time.Minute))
		if err != nil || len(closed) != 1 || closed[0].ReservationID != old.ID {
			t.Fatalf("ForfeitStale = %+v, %v; want %s forfeited", closed, err, old.ID)
		}
		fresh, err := l.Reserve(ctx, sub, 100)
		if err != nil {
			t.Fatal(err)
		}
		closed, err = l.ForfeitStale(ctx, time.Now().Add(-time.Minute))
		if err != nil || len(closed) != 0 {
			t.Fatalf("ForfeitStale before cutoff = %+v, %v; want none", closed, err)
		}
		if _, err := l.Settle(ctx, fresh.ID, ledger.Usage{OutputTokens: 1}); err != nil {
			t.Fatal(err)
		}
		wantBalance(t, l, sub, 0, 101)
	})
}

// TestConcurrentReservationsNeverOverspend races 1,000 reservations of
// 100 tokens against a budget of 10,000 (room for exactly 100 at once).
func TestConcurrentReservationsNeverOverspend(t *testing.T) {
	const (
		attempts = 1000
		amount   = 100
		budget   = 100 * amount
	)
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		l, sub := mustAccount(t, db, budget)

		granted := reserveAll(t, l, sub, attempts, amount)
		if len(granted) != budget/amount {
			t.Fatalf("%d of %d reservations granted, want exactly %d", len(granted), attempts, budget/amount)
		}
		wantBalance(t, l, sub, budget, 0)

		var charged atomic.Int64
		var wg sync.WaitGroup
		for i, id := range granted {
			for range 2 { // every reservation is closed twice, concurrently
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := closeOne(ctx, l, id, i)
					if err != nil {
						t.Error(err)
						return
					}
					if !s.Repeat {
						charged.Add(s.Charged)
					}
				}()
			}
		}
		wg.Wait()
		b := mustBalance(t, l, sub)
		if b.Reserved != 0 || b.Used != charged.Load() || b.Used > b.Budget {
			t.Fatalf("after settling: %+v; want reserved 0, used %d <= %d", b, charged.Load(), b.Budget)
		}
		if sum := sumCharged(t, db, sub); sum != b.Used {
			t.Fatalf("sum of reservation rows %d != account used %d", sum, b.Used)
		}
	})
}

// TestConcurrentReserveAndSettleNeverOverspend mixes reservations and
// settlements (including over-reported usage) until the budget is spent.
func TestConcurrentReserveAndSettleNeverOverspend(t *testing.T) {
	const (
		attempts = 1000
		amount   = 100
		budget   = 100 * amount
	)
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		l, sub := mustAccount(t, db, budget)
		var charged, refused atomic.Int64
		var wg sync.WaitGroup
		for i := range attempts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := l.Reserve(ctx, sub, amount)
				if errs.Is(err, errs.Exhausted) {
					refused.Add(1)
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				s, err := closeOne(ctx, l, r.ID, i)
				if err != nil {
					t.Error(err)
					return
				}
				charged.Add(s.Charged)
			}()
		}
		wg.Wait()
		b := mustBalance(t, l, sub)
		if b.Used > b.Budget || b.Reserved != 0 || b.Used != charged.Load() {
			t.Fatalf("balance %+v, charged %d: want reserved 0 and used = charged <= budget", b, charged.Load())
		}
		if sum := sumCharged(t, db, sub); sum != b.Used {
			t.Fatalf("sum of reservation rows %d != account used %d", sum, b.Used)
		}
		if refused.Load() == 0 {
			t.Fatalf("no reservation was refused; the budget was never under pressure")
		}
	})
}

func reserveAll(t *testing.T, l *ledger.Ledger, sub string, n int, amount int64) []string {
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := l.Reserve(t.Context(), sub, amount)
			if errs.Is(err, errs.Exhausted) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ids = append(ids, r.ID)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return ids
}

// closeOne closes a reservation the way request i ends: settled with
// usage that is sometimes over-reported, released, or forfeited.
func closeOne(ctx context.Context, l *ledger.Ledger, id string, i int) (ledger.Settlement, error) {
	switch i % 4 {
	case 0:
		return l.Release(ctx, id)
	case 1:
		return l.Forfeit(ctx, id)
	}
	return l.Settle(ctx, id, ledger.Usage{InputTokens: rand.Int64N(80),
		CachedInputTokens: rand.Int64N(10), OutputTokens: rand.Int64N(60)})
}

func sumCharged(t *testing.T, db *store.DB, sub string) int64 {
	t.Helper()
	var sum int64
	err := db.SQL.QueryRowContext(t.Context(), db.Rebind(`SELECT COALESCE(SUM(charged), 0)
		FROM ledger_reservations WHERE submission_id = ?`), sub).Scan(&sum)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}
