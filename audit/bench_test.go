package audit

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmesh/devmesh/store/storetest"
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
				l := Open(db, Options{Signer: testSigner(b), CheckpointEvery: time.Second, Logger: benchLogger()})
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
