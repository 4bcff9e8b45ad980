package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/ledger"
	"github.com/devmesh/devmesh/ledger/ledgertest"
	"github.com/devmesh/devmesh/relay"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/store/storetest"
)

// fakeAuth is a test fake of server.Authenticator: it maps fixed
// candidate tokens, sent as Bearer or x-api-key, to principals.
type fakeAuth struct{ tokens map[string]server.Principal }

func (a fakeAuth) Authenticate(r *http.Request, _ server.Audience) (server.Principal, error) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" {
		tok = r.Header.Get("X-Api-Key")
	}
	p, ok := a.tokens[tok]
	if !ok {
		return p, errs.E(errs.Unauthenticated, "unknown token")
	}
	return p, nil
}

// memLog is a test fake of audit.Appender that keeps entries in memory.
type memLog struct {
	mu      sync.Mutex
	entries []audit.Entry
	fail    bool
}

func (m *memLog) Append(_ context.Context, entries ...audit.Entry) ([]audit.Ack, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return nil, errs.E(errs.Unavailable, "test log refuses appends")
	}
	acks := make([]audit.Ack, len(entries))
	for i, e := range entries {
		m.entries = append(m.entries, e)
		acks[i] = audit.Ack{Index: int64(len(m.entries)), Seq: int64(len(m.entries))}
	}
	return acks, nil
}

func (m *memLog) kinds() []audit.Kind {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []audit.Kind
	for _, e := range m.entries {
		out = append(out, e.Kind)
	}
	return out
}

// balanced reports whether every ledger.reserved event has its
// ledger.settled event.
func (m *memLog) balanced() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.entries {
		switch e.Kind {
		case audit.KindLedgerReserved:
			n++
		case audit.KindLedgerSettled:
			n--
		}
	}
	return n == 0
}

// settledTotal sums the charges of every ledger.settled event.
func (m *memLog) settledTotal(t testing.TB) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum int64
	for _, e := range m.entries {
		if e.Kind != audit.KindLedgerSettled {
			continue
		}
		var s ledger.Settlement
		if err := json.Unmarshal(e.Payload, &s); err != nil {
			t.Fatal(err)
		}
		sum += s.Charged
	}
	return sum
}

func (m *memLog) all() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b bytes.Buffer
	for _, e := range m.entries {
		b.Write(e.Payload)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

type fixedPolicy relay.Policy

func (p fixedPolicy) Policy(context.Context, string) (relay.Policy, error) {
	return relay.Policy(p), nil
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const candidateToken = "cand-token-7f3a9c1e5b2d4f6a8c0e"

// env is one relay behind a real HTTP server, with its ledger, audit log
// and captured logs.
type env struct {
	URL    string
	Sub    string
	DB     *store.DB
	Ledger *ledger.Ledger
	Log    *memLog
	Logs   *syncBuffer
	Relay  *relay.Relay
}

type envOption func(*relay.Config, *relay.Policy)

func withBudget(n int64) envOption {
	return func(_ *relay.Config, p *relay.Policy) { p.Budget = n }
}

func withConfig(f func(*relay.Config)) envOption {
	return func(c *relay.Config, _ *relay.Policy) { f(c) }
}

func newEnv(t testing.TB, db *store.DB, models []relay.Model, opts ...envOption) *env {
	t.Helper()
	if db == nil {
		db = storetest.MustOpen(t, t.TempDir()+"/devmesh.db")
	}
	cfg := relay.DefaultConfig()
	cfg.Models = models
	pol := relay.Policy{Budget: 1_000_000}
	for _, m := range models {
		pol.Models = append(pol.Models, m.ID)
	}
	for _, o := range opts {
		o(&cfg, &pol)
	}
	e := &env{DB: db, Ledger: ledger.New(db), Log: &memLog{}, Logs: &syncBuffer{}}
	e.Sub = ledgertest.MustSubmission(t, db)
	log := slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := relay.New(cfg, e.Ledger, fixedPolicy(pol), e.Log, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Relay = r
	auth := fakeAuth{tokens: map[string]server.Principal{candidateToken: {
		Audience: server.Candidate, Subject: e.Sub, SubmissionID: e.Sub, TokenID: "jti-1"}}}
	s := server.New(log, auth)
	s.Handle(r.Routes()...)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	e.URL = hs.URL
	return e
}

func offlineModels() []relay.Model {
	return []relay.Model{{ID: relay.OfflineModelID, Provider: relay.Offline{}, Bound: relay.BoundTiktoken}}
}

// balance returns the submission's account once no reservation is open:
// a handler settles after its answer has left, so a client can finish
// reading before the settlement commits.
func (e *env) balance(t testing.TB) ledger.Balance {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := e.Ledger.Balance(context.Background(), e.Sub)
		if err != nil {
			t.Fatal(err)
		}
		if (b.Reserved == 0 && e.Log.balanced()) || time.Now().After(deadline) {
			return b
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkBooks asserts the ledger's invariants after all requests ended:
// nothing reserved, used within budget, and used equal to the sum of
// ledger.settled events.
func (e *env) checkBooks(t testing.TB) {
	t.Helper()
	b := e.balance(t)
	if b.Reserved != 0 {
		t.Errorf("%d tokens still reserved after every request ended", b.Reserved)
	}
	if b.Used > b.Budget {
		t.Errorf("used %d exceeds budget %d", b.Used, b.Budget)
	}
	if sum := e.Log.settledTotal(t); sum != b.Used {
		t.Errorf("ledger.settled events charge %d, ledger used %d", sum, b.Used)
	}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open(t)) })
	}
}

var _ = httptest.NewServer

func secretOf(s string) secret.String { return secret.New(s) }
