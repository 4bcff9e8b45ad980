package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/relay"
	"github.com/devmesh/devmesh/store"
)

// stormWidth bounds how many of the storm's requests are on the wire at
// once: each costs about eight goroutines across client, relay and
// upstream, and the race detector allows 8,128.
const stormWidth = 250

// TestStormNeverOverspends sends 1,000 requests through the official
// clients against a budget that fits 100 worst cases, with random
// upstream faults and random client disconnects, on SQLite and
// PostgreSQL. The settled total never exceeds the budget and equals the
// sum of ledger.settled events.
func TestStormNeverOverspends(t *testing.T) {
	if testing.Short() {
		t.Skip("storm test in -short mode")
	}
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		for _, faulty := range []bool{false, true} {
			name := map[bool]string{false: "clean", true: "faults and disconnects"}[faulty]
			t.Run(name, func(t *testing.T) { storm(t, db, faulty) })
		}
	})
}

func storm(t *testing.T, db *store.DB, faulty bool) {
	const requests = 1000
	up := newUpstream(t)
	up.slow = 300 * time.Millisecond
	if faulty {
		up.pick = func() fault { return fault(rand.IntN(int(numFaults))) }
	}
	worst := probeReservation(t, up)
	e := newEnv(t, db, upstreamModels(up), withBudget(100*worst), withConfig(func(c *relay.Config) {
		c.MaxConcurrent, c.RequestsPerMinute = requests, 100*requests
		c.FirstByteTimeout = 2 * time.Second
	}))

	var ok, refused, failed atomic.Int64
	sem := make(chan struct{}, stormWidth)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if faulty && rand.IntN(5) == 0 {
				time.AfterFunc(time.Duration(rand.IntN(30))*time.Millisecond, cancel)
			}
			err := stormCall(ctx, e, i)
			var oe *openai.Error
			var ae *anthropic.Error
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &oe) && oe.StatusCode == http.StatusTooManyRequests,
				errors.As(err, &ae) && ae.StatusCode == http.StatusTooManyRequests:
				refused.Add(1)
			default:
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	waitIdle(t, e)
	t.Logf("%d answered, %d refused for budget, %d failed (faults or disconnects)", ok.Load(), refused.Load(), failed.Load())
	if refused.Load() == 0 || ok.Load() == 0 {
		t.Fatalf("%d answered, %d refused: the budget was not under pressure", ok.Load(), refused.Load())
	}
	if !faulty && failed.Load() != 0 {
		t.Fatalf("%d requests failed without faults", failed.Load())
	}
	e.checkBooks(t)
	e.checkHygiene(t)
}

// stormCall makes request i: alternating formats and providers,
// streaming or not.
func stormCall(ctx context.Context, e *env, i int) error {
	stream := i%4 >= 2
	if i%2 == 0 {
		c := openaiClient(e, option.WithMaxRetries(0))
		p := chatParams("gpt-test", "say hello", false)
		p.MaxTokens = openai.Int(50)
		if !stream {
			_, err := c.Chat.Completions.New(ctx, p)
			return err
		}
		st := c.Chat.Completions.NewStreaming(ctx, p)
		for st.Next() {
		}
		return st.Err()
	}
	c := anthropicClient(e, aoption.WithMaxRetries(0))
	p := messagesParams("claude-test", "say hello", false)
	p.MaxTokens = 50
	if !stream {
		_, err := c.Messages.New(ctx, p)
		return err
	}
	st := c.Messages.NewStreaming(ctx, p)
	for st.Next() {
	}
	return st.Err()
}

// probeReservation returns the larger worst case of the two storm
// requests, measured on a throwaway relay.
func probeReservation(t *testing.T, up *upstream) int64 {
	pick := up.pick
	up.pick = func() fault { return faultNone }
	defer func() { up.pick = pick }()
	e := newEnv(t, nil, upstreamModels(up))
	for i := range 2 {
		if err := stormCall(t.Context(), e, i); err != nil {
			t.Fatal(err)
		}
	}
	var worst int64
	e.Log.mu.Lock()
	defer e.Log.mu.Unlock()
	for _, en := range e.Log.entries {
		if en.Kind != audit.KindLedgerReserved {
			continue
		}
		var r struct{ Amount int64 }
		json.Unmarshal(en.Payload, &r)
		worst = max(worst, r.Amount)
	}
	return worst
}

// waitIdle waits until no reservation is open: handlers of departed
// clients settle after the client has gone.
func waitIdle(t testing.TB, e *env) {
	t.Helper()
	if b := e.balance(t); b.Reserved != 0 {
		t.Fatalf("reservations still open 30s after the storm: %+v", b)
	}
}
