package audit

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
	"github.com/devmesh/devmesh/workspace"
)

// BenchmarkAppend measures the public append path: 1,000 submissions
// appending concurrently, each with a client id, durable (synchronous
// commit) and checkpointed every second. perCall is how many events one
// Append carries: 1 is a client that sends each keystroke alone, 10 a
// browser that batches as the ingest route expects.
func BenchmarkAppend(b *testing.B) {
	for _, be := range storetest.Backends() {
		for _, perCall := range []int{1, 10} {
			b.Run(fmt.Sprintf("%s/events-per-call=%d", be.Name, perCall), func(b *testing.B) {
				db := be.Open(b)
				l := Open(db, Options{Signer: testSigner(b), CheckpointEvery: time.Second, Logger: benchLogger(), MaxBatch: benchMaxBatch()})
				defer l.Close()
				benchAppend(b, l, 1000, perCall)
			})
		}
	}
}

func benchAppend(b *testing.B, l *Log, subs, perCall int) {
	payload := json.RawMessage(`{"changes":[{"from":120,"insert":"return x + 1\n","to":124}],"file":"src/main.py"}`)
	var next atomic.Int64
	n := int64(b.N)
	b.ResetTimer()
	var wg sync.WaitGroup
	for s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := fmt.Sprintf("sub_%04d", s)
			for i := next.Add(int64(perCall)); i-int64(perCall) < n; i = next.Add(int64(perCall)) {
				var es []Entry
				for j := i - int64(perCall) + 1; j <= min(i, n); j++ {
					es = append(es, Entry{SubmissionID: sub, Kind: KindEditorOps,
						Actor: ActorCandidate, ClientID: fmt.Sprint(j), Payload: payload})
				}
				if _, err := l.Append(b.Context(), es...); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func benchLogger() *slog.Logger {
	if os.Getenv("AUDIT_BENCH_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fill appends n events spread over 1,000 submissions in large batches,
// the fastest way to build a big log through the sequencer's own code.
func fill(b *testing.B, db *store.DB, n int, entryFor func(i int) Entry) {
	b.Helper()
	l := Open(db, Options{MaxBatch: 20000, Signer: testSigner(b)})
	defer l.Close()
	const chunk = 20000
	for start := 0; start < n; start += chunk {
		var es []Entry
		for i := start; i < min(start+chunk, n); i++ {
			es = append(es, entryFor(i))
		}
		if _, err := l.Append(b.Context(), es...); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(b.Context()); err != nil {
		b.Fatal(err)
	}
}

func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("AUDIT_BENCH_EVENTS")); err == nil {
		return n
	}
	return 1_000_000
}

// BenchmarkVerify measures Verify over a log of AUDIT_BENCH_EVENTS events
// (default one million); one op is one full verification.
func BenchmarkVerify(b *testing.B) {
	payload := json.RawMessage(`{"changes":[{"from":120,"insert":"return x + 1\n","to":124}],"file":"src/main.py"}`)
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			db := be.Open(b)
			n := benchEvents()
			fill(b, db, n, func(i int) Entry {
				return Entry{SubmissionID: fmt.Sprintf("sub_%04d", i%1000), Kind: KindEditorOps,
					Actor: ActorCandidate, ClientID: fmt.Sprint(i), Payload: payload}
			})
			b.ResetTimer()
			for b.Loop() {
				if err := Verify(b.Context(), db, testVerifierKey(b), nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkReplay measures replaying a 100,000-event submission at
// random points: "warm" after the replayer has seen the submission once
// (the steady state of a recruiter scrubbing through a session), "cold"
// with a new replayer each time (the first request). The session types
// a 20,000-character file, then keeps overwriting characters in it.
func BenchmarkReplay(b *testing.B) {
	const replayFileSize = 20_000
	db := storetest.MustOpen(b, filepath.Join(b.TempDir(), "replay.db"))
	const n = 100_000
	fill(b, db, n, func(i int) Entry {
		op := `{"op":"create","file":"main.py","content":""}`
		switch {
		case i > 0 && i <= replayFileSize:
			op = fmt.Sprintf(`{"file":"main.py","changes":[{"from":%d,"to":%d,"insert":"x"}]}`, i-1, i-1)
		case i > replayFileSize:
			at := i * 7919 % replayFileSize
			op = fmt.Sprintf(`{"file":"main.py","changes":[{"from":%d,"to":%d,"insert":"y"}]}`, at, at+1)
		}
		return Entry{SubmissionID: "sub_replay", Kind: KindEditorOps, Actor: ActorCandidate,
			ClientID: fmt.Sprint(i), Payload: json.RawMessage(op)}
	})
	rng := rand.New(rand.NewPCG(1, 2))
	b.Run("warm", func(b *testing.B) {
		rp := NewReplayer(db, workspace.DefaultLimits())
		if _, err := rp.Replay(b.Context(), "sub_replay", n); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			seq := rng.Int64N(n) + 1
			t, err := rp.Replay(b.Context(), "sub_replay", seq)
			if err != nil {
				b.Fatal(err)
			}
			if f, _ := t.Get("main.py"); len(f.Content) != int(min(seq-1, replayFileSize)) {
				b.Fatalf("replay at %d: %d bytes, want %d", seq, len(f.Content), min(seq-1, replayFileSize))
			}
		}
	})
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			rp := NewReplayer(db, workspace.DefaultLimits())
			if _, err := rp.Replay(b.Context(), "sub_replay", rng.Int64N(n)+1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchMaxBatch() int {
	n, _ := strconv.Atoi(os.Getenv("AUDIT_BENCH_MAX_BATCH"))
	return n
}

// BenchmarkCommitBatch measures the transaction alone: one op commits a
// batch of 1,000 new events from 1,000 submissions, as the sequencer
// does, without the goroutines and channels of the append path.
func BenchmarkCommitBatch(b *testing.B) {
	payload := json.RawMessage(`{"changes":[{"from":120,"insert":"return x + 1\n","to":124}],"file":"src/main.py"}`)
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			l := Open(be.Open(b), Options{})
			defer l.Close()
			n := 0
			for b.Loop() {
				es := make([]Entry, 1000)
				for i := range es {
					es[i] = Entry{SubmissionID: fmt.Sprintf("sub_%04d", i), Kind: KindEditorOps,
						Actor: ActorCandidate, ClientID: fmt.Sprint(n), Payload: payload}
					n++
				}
				if _, err := l.commit(b.Context(), es); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
