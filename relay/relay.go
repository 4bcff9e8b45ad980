package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/internal/errs"
	"github.com/devmesh/devmesh/ledger"
	"github.com/devmesh/devmesh/server"
)

// Policy is what a submission's task allows: its token budget and the
// model ids it may use.
type Policy struct {
	Budget int64
	Models []string
	// Deadline ends the submission's session; after it the relay refuses
	// requests. Zero means none.
	Deadline time.Time
}

// Policies looks up the policy of a submission. The server wires it to
// the submission's task.
type Policies interface {
	Policy(ctx context.Context, submissionID string) (Policy, error)
}

// Header names the relay sets on responses.
const (
	// HeaderBudgetRemaining carries the tokens the submission may still
	// reserve: after settlement for whole responses, after reservation
	// for streams (whose headers leave before the answer).
	HeaderBudgetRemaining = "X-Devmesh-Budget-Remaining"
	// headerShouldRetry tells the official SDKs not to retry a refusal
	// that a retry cannot fix (they retry 429 twice otherwise).
	headerShouldRetry = "X-Should-Retry"
)

// Relay serves the relay endpoints. It is safe for concurrent use.
type Relay struct {
	cfg      Config
	models   map[string]Model
	ledger   *ledger.Ledger
	policies Policies
	audit    audit.Appender
	log      *slog.Logger
	now      func() time.Time
	limits   *limiter
	// opened remembers submissions whose token account exists, to skip
	// the idempotent insert (a write transaction) on later requests.
	opened sync.Map
}

// New returns a relay over the given ledger, policies and audit log.
// now may be nil (time.Now).
func New(cfg Config, l *ledger.Ledger, p Policies, a audit.Appender, log *slog.Logger, now func() time.Time) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	r := &Relay{cfg: cfg, models: map[string]Model{}, ledger: l, policies: p,
		audit: a, log: log, now: now,
		limits: newLimiter(cfg.MaxConcurrent, cfg.RequestsPerMinute, now)}
	for _, m := range cfg.Models {
		if m.Upstream == "" {
			m.Upstream = m.ID
		}
		r.models[m.ID] = m
	}
	return r, nil
}

// Routes returns the relay's routes; every one takes candidate tokens.
func (rl *Relay) Routes() []server.Route {
	route := func(pattern string, h server.HandlerFunc) server.Route {
		return server.Route{Pattern: pattern, Audience: server.Candidate,
			MaxBody: rl.cfg.MaxBody, Handler: h}
	}
	return []server.Route{
		route("POST /v1/chat/completions", rl.handle(chatFormat{})),
		route("POST /v1/responses", rl.handle(responsesFormat{})),
		route("POST /v1/messages", rl.handle(messagesFormat{})),
		route("POST /v1/messages/count_tokens", rl.countTokens),
		route("GET /v1/models", rl.listModels),
	}
}

// Remaining returns a submission's token account, opening it with the
// task's budget if this is its first use. The session endpoint shows it.
func (rl *Relay) Remaining(ctx context.Context, submissionID string) (ledger.Balance, error) {
	if _, err := rl.account(ctx, submissionID); err != nil {
		return ledger.Balance{}, err
	}
	return rl.ledger.Balance(ctx, submissionID)
}

// account returns the submission's policy, opening its token account.
func (rl *Relay) account(ctx context.Context, sub string) (Policy, error) {
	p, err := rl.policies.Policy(ctx, sub)
	if err != nil {
		return p, err
	}
	if _, ok := rl.opened.Load(sub); ok {
		return p, nil
	}
	if err := rl.ledger.Open(ctx, sub, p.Budget); err != nil {
		return p, err
	}
	rl.opened.Store(sub, true)
	return p, nil
}

func submissionOf(r *http.Request) (string, error) {
	p, ok := server.PrincipalFrom(r.Context())
	if !ok || p.SubmissionID == "" {
		return "", errs.E(errs.Forbidden, "the relay needs a candidate token bound to a submission")
	}
	return p.SubmissionID, nil
}

// model resolves a requested model id against the configuration and the
// task's allowed list.
func (rl *Relay) model(p Policy, id string) (Model, error) {
	m, ok := rl.models[id]
	if !ok || !slices.Contains(p.Models, id) {
		return m, errs.E(errs.NotFound, "model %q is not available to this assessment", id)
	}
	return m, nil
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errs.E(errs.TooLarge, "request body is larger than %d bytes", tooBig.Limit)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "read request body")
	}
	return b, nil
}

func setRemaining(w http.ResponseWriter, n int64) {
	w.Header().Set(HeaderBudgetRemaining, strconv.FormatInt(max(n, 0), 10))
}

func (rl *Relay) listModels(w http.ResponseWriter, r *http.Request) error {
	sub, err := submissionOf(r)
	if err != nil {
		return err
	}
	p, err := rl.policies.Policy(r.Context(), sub)
	if err != nil {
		return err
	}
	type model struct {
		ID          string `json:"id"`
		Object      string `json:"object"`
		Type        string `json:"type"`
		DisplayName string `json:"display_name"`
		Created     int64  `json:"created"`
		CreatedAt   string `json:"created_at"`
		OwnedBy     string `json:"owned_by"`
	}
	list := []model{}
	for _, id := range p.Models {
		if m, ok := rl.models[id]; ok {
			list = append(list, model{ID: id, Object: "model", Type: "model",
				DisplayName: id, CreatedAt: "1970-01-01T00:00:00Z",
				OwnedBy: m.Provider.Name()})
		}
	}
	first, last := "", ""
	if len(list) > 0 {
		first, last = list[0].ID, list[len(list)-1].ID
	}
	return server.WriteJSON(w, http.StatusOK, map[string]any{"object": "list",
		"data": list, "has_more": false, "first_id": first, "last_id": last})
}

func (rl *Relay) countTokens(w http.ResponseWriter, r *http.Request) error {
	sub, err := submissionOf(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	req, err := messagesFormat{}.decode(body, r.Header, true)
	if err != nil {
		return err
	}
	p, err := rl.policies.Policy(r.Context(), sub)
	if err != nil {
		return err
	}
	m, err := rl.model(p, req.Model)
	if err != nil {
		return err
	}
	n := inputBound(req, m.Bound, rl.cfg.ImageTokens)
	return server.WriteJSON(w, http.StatusOK, map[string]int64{"input_tokens": n})
}
