package audit

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

// forBackends runs fn against a fresh SQLite file and a fresh PostgreSQL
// database.
func forBackends(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open(t)) })
	}
}

func mustLog(t testing.TB, db *store.DB, opts Options) *Log {
	t.Helper()
	l := Open(db, opts)
	t.Cleanup(func() { l.Close() })
	return l
}

func mustSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := LoadOrCreateSigner(filepath.Join(t.TempDir(), "log.key"), "devmesh.test/log")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func entry(sub, cid string, n int) Entry {
	return Entry{SubmissionID: sub, Kind: KindTerminalInput, Actor: ActorCandidate,
		ClientID: cid, Payload: json.RawMessage(fmt.Sprintf(`{"data":"line %d"}`, n))}
}

func mustAppend(t testing.TB, l *Log, entries ...Entry) []Ack {
	t.Helper()
	acks, err := l.Append(t.Context(), entries...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return acks
}

func TestAppendAssignsIndexAndSeq(t *testing.T) {
	forBackends(t, func(t *testing.T, db *store.DB) {
		l := mustLog(t, db, Options{})
		acks := mustAppend(t, l, entry("sub_a", "a1", 1), entry("sub_b", "b1", 1), entry("sub_a", "a2", 2))
		want := []Ack{{0, 1}, {1, 1}, {2, 2}}
		for i := range want {
			if acks[i] != want[i] {
				t.Errorf("ack %d = %+v, want %+v", i, acks[i], want[i])
			}
		}
		acks = mustAppend(t, l, entry("sub_a", "", 3))
		if acks[0] != (Ack{3, 3}) {
			t.Errorf("next ack = %+v, want {3 3}", acks[0])
		}
		size, _, err := l.Head(t.Context())
		if err != nil || size != 4 {
			t.Errorf("Head size = %d, %v; want 4", size, err)
		}
	})
}

func TestAppendIsIdempotentOnClientID(t *testing.T) {
	forBackends(t, func(t *testing.T, db *store.DB) {
		l := mustLog(t, db, Options{})
		first := mustAppend(t, l, entry("sub_a", "x", 1), entry("sub_a", "x", 2), entry("sub_b", "x", 3))
		if first[1] != first[0] || first[2] == first[0] {
			t.Fatalf("acks within one call = %+v; want the duplicate to repeat ack 0 and sub_b to differ", first)
		}
		l.Close()

		// A new Log on the same database stands for a restarted process.
		l2 := mustLog(t, db, Options{})
		again := mustAppend(t, l2, entry("sub_b", "x", 9), entry("sub_a", "x", 9), entry("sub_a", "y", 4))
		if again[0] != first[2] || again[1] != first[0] {
			t.Fatalf("retried acks = %+v, want the originals %+v", again[:2], first)
		}
		if again[2] != (Ack{Index: 2, Seq: 2}) {
			t.Fatalf("new event ack = %+v, want {2 2}", again[2])
		}
		var n int
		if err := db.SQL.QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil || n != 3 {
			t.Fatalf("stored events = %d, %v; want 3", n, err)
		}
	})
}

func TestAppendRejectsInvalidEntries(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
	}{
		{"missing submission", Entry{Kind: KindEditorOps, Actor: ActorCandidate}},
		{"missing kind", Entry{SubmissionID: "s", Actor: ActorCandidate}},
		{"missing actor", Entry{SubmissionID: "s", Kind: KindEditorOps}},
		{"payload not JSON", Entry{SubmissionID: "s", Kind: KindEditorOps, Actor: ActorCandidate, Payload: []byte("{")}},
		{"control character in client id", Entry{SubmissionID: "s", Kind: KindEditorOps, Actor: ActorCandidate, ClientID: "a\nb"}},
		{"long client id", Entry{SubmissionID: "s", Kind: KindEditorOps, Actor: ActorCandidate, ClientID: string(make([]byte, 200))}},
	}
	db := storetest.MustOpen(t, filepath.Join(t.TempDir(), "a.db"))
	l := mustLog(t, db, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.Append(t.Context(), entry("s", "ok", 1), tt.e); err == nil {
				t.Fatal("Append succeeded, want an error")
			}
		})
	}
	if size, _, _ := l.Head(t.Context()); size != 0 {
		t.Fatalf("tree size after rejected appends = %d, want 0", size)
	}
}

func TestConcurrentAppendsBuildOneTree(t *testing.T) {
	forBackends(t, func(t *testing.T, db *store.DB) {
		l := mustLog(t, db, Options{MaxBatch: 64})
		const subs, per = 20, 25
		acks := appendConcurrently(t, []*Log{l}, subs, per)
		checkAcks(t, acks, subs*per)
		mustVerifyTree(t, db)
	})
}

// appendConcurrently appends per events for each of subs submissions,
// one goroutine per submission, spreading them over logs, and returns
// every ack by submission.
func appendConcurrently(t *testing.T, logs []*Log, subs, per int) map[string][]Ack {
	var mu sync.Mutex
	out := map[string][]Ack{}
	var wg sync.WaitGroup
	for s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := fmt.Sprintf("sub_%d", s)
			for i := range per {
				l := logs[(s+i)%len(logs)]
				acks, err := l.Append(t.Context(), entry(sub, fmt.Sprint(i), i))
				if err != nil {
					t.Errorf("append %s/%d: %v", sub, i, err)
					return
				}
				mu.Lock()
				out[sub] = append(out[sub], acks...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// checkAcks checks that indexes are unique and dense and that each
// submission's sequence numbers are 1, 2, 3... in order.
func checkAcks(t *testing.T, acks map[string][]Ack, total int) {
	t.Helper()
	seen := map[int64]bool{}
	for sub, list := range acks {
		for i, a := range list {
			if a.Seq != int64(i+1) {
				t.Fatalf("%s: ack %d has seq %d, want %d", sub, i, a.Seq, i+1)
			}
			if seen[a.Index] {
				t.Fatalf("index %d acknowledged twice", a.Index)
			}
			seen[a.Index] = true
		}
	}
	for i := range int64(total) {
		if !seen[i] {
			t.Fatalf("index %d never acknowledged", i)
		}
	}
}

func TestAppendAfterCloseFails(t *testing.T) {
	db := storetest.MustOpen(t, filepath.Join(t.TempDir(), "a.db"))
	l := Open(db, Options{})
	l.Close()
	if _, err := l.Append(t.Context(), entry("s", "c", 1)); err != ErrClosed {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
}

func TestServerTimeIsMicroseconds(t *testing.T) {
	db := storetest.MustOpen(t, filepath.Join(t.TempDir(), "a.db"))
	now := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.FixedZone("X", 7200))
	l := mustLog(t, db, Options{Now: func() time.Time { return now }})
	mustAppend(t, l, entry("s", "c", 1))
	evs, err := ReadEvents(t.Context(), db, "s", 0, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("ReadEvents = %v, %v", evs, err)
	}
	if want := time.Date(2026, 5, 1, 10, 0, 0, 123456000, time.UTC); !evs[0].ServerTime.Equal(want) {
		t.Errorf("server time = %v, want %v", evs[0].ServerTime, want)
	}
}

// mustVerifyTree checks the stored log with Verify, without checkpoints'
// key (a log without checkpoints) or with the signer's key.
func mustVerifyTree(t *testing.T, db *store.DB) {
	t.Helper()
	if err := Verify(t.Context(), db, testVerifierKey(t), nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
