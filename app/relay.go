package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/devmesh/devmesh/auth"
	"github.com/devmesh/devmesh/config"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/ledger"
	"github.com/devmesh/devmesh/relay"
	"github.com/devmesh/devmesh/store"
	"github.com/devmesh/devmesh/task"
)

// openRelay builds the LLM relay: the offline demonstration model always,
// plus every configured provider model, over the submission ledger.
func (a *App) openRelay() (*relay.Relay, error) {
	cfg := relay.DefaultConfig()
	cfg.Models = []relay.Model{{ID: relay.OfflineModelID, Provider: relay.Offline{}, Bound: relay.BoundTiktoken}}
	hc := &http.Client{Timeout: cfg.RequestTimeout}
	for _, m := range a.Cfg.Models {
		model, err := a.providerModel(m, hc)
		if err != nil {
			return nil, err
		}
		cfg.Models = append(cfg.Models, model)
	}
	a.ledger = ledger.New(a.DB)
	return relay.New(cfg, a.ledger, &taskPolicies{app: a}, a.Audit, a.Log, a.Now)
}

func (a *App) providerModel(m config.Model, hc *http.Client) (relay.Model, error) {
	key, err := a.providerKey(m)
	if err != nil {
		return relay.Model{}, err
	}
	out := relay.Model{ID: m.ID, Upstream: m.Upstream, Bound: relay.BoundBytes}
	switch m.Provider {
	case config.ProviderOpenAI:
		out.Provider, out.Bound = relay.NewOpenAI(m.BaseURL, key, hc), relay.BoundTiktoken
	case config.ProviderAzureOpenAI:
		out.Provider = relay.NewAzureOpenAI(m.BaseURL, m.Upstream, m.APIVersion, key, hc)
		out.Bound = relay.BoundTiktoken
	case config.ProviderAnthropic:
		out.Provider = relay.NewAnthropic(m.BaseURL, key, hc)
	case config.ProviderOpenAICompatible:
		out.Provider = relay.NewOpenAICompatible(m.ID, m.BaseURL, key, hc)
	}
	return out, nil
}

// providerKey reads a model's key from its environment variable or file.
// Errors name the variable or file, never the key.
func (a *App) providerKey(m config.Model) (secret.String, error) {
	switch {
	case m.APIKeyEnv != "":
		v := a.Getenv(m.APIKeyEnv)
		if v == "" {
			return secret.String{}, fmt.Errorf("model %q: environment variable %s is empty", m.ID, m.APIKeyEnv)
		}
		return secret.New(v), nil
	case m.APIKeyFile != "":
		b, err := os.ReadFile(m.APIKeyFile)
		if err != nil {
			return secret.String{}, fmt.Errorf("model %q: read key file: %w", m.ID, err)
		}
		return secret.New(strings.TrimSpace(string(b))), nil
	}
	return secret.String{}, nil // keyless servers, such as a local vLLM
}

// taskPolicies gives each submission its task's token budget and allowed
// models. A submission's task never changes, so answers are cached.
type taskPolicies struct {
	app   *App
	cache sync.Map // submission id → relay.Policy
}

func (p *taskPolicies) Policy(ctx context.Context, sub string) (relay.Policy, error) {
	if v, ok := p.cache.Load(sub); ok {
		return v.(relay.Policy), nil
	}
	m, err := p.app.manifestOf(ctx, sub)
	if err != nil {
		return relay.Policy{}, err
	}
	s, err := p.app.DB.SubmissionByID(ctx, sub)
	if err != nil {
		return relay.Policy{}, err
	}
	pol := relay.Policy{Budget: m.AI.TokenBudget, Models: m.AI.Models}
	if s.DeadlineAt == nil {
		// Not open yet: no deadline to cache.
		return pol, nil
	}
	pol.Deadline = *s.DeadlineAt
	p.cache.Store(sub, pol)
	return pol, nil
}

// manifestOf returns the task manifest of a submission from the database.
func (a *App) manifestOf(ctx context.Context, subID string) (task.Manifest, error) {
	sub, err := a.DB.SubmissionByID(ctx, subID)
	if err != nil {
		return task.Manifest{}, err
	}
	return a.manifestFor(ctx, sub)
}

// taskRow returns the task row of sub's assessment.
func (a *App) taskRow(ctx context.Context, sub store.Submission) (store.Task, error) {
	asm, err := a.DB.Assessment(ctx, sub.OrgID, sub.AssessmentID)
	if err != nil {
		return store.Task{}, err
	}
	return a.DB.Task(ctx, sub.OrgID, asm.TaskID)
}

// manifestFor returns the manifest of sub's task, as stored with the task.
func (a *App) manifestFor(ctx context.Context, sub store.Submission) (task.Manifest, error) {
	var m task.Manifest
	t, err := a.taskRow(ctx, sub)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(t.Manifest, &m); err != nil {
		return m, fmt.Errorf("decode manifest of task %q: %w", t.ID, err)
	}
	return m, nil
}

// tokenBudget is the session route's view of a submission's AI account.
func (a *App) tokenBudget(ctx context.Context, sub string) (auth.TokenBudget, error) {
	b, err := a.Relay.Remaining(ctx, sub)
	if err != nil {
		return auth.TokenBudget{}, err
	}
	return auth.TokenBudget{Budget: b.Budget, Used: b.Used, Reserved: b.Reserved,
		Remaining: b.Remaining()}, nil
}

// forfeitStale charges the whole reservation of AI requests that never
// settled (their process died mid-call), as the relay's policy says, and
// logs each charge, so the audit log keeps matching the ledger.
func (a *App) forfeitStale(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := a.Relay.ForfeitStale(ctx, a.Now().Add(-relay.DefaultConfig().RequestTimeout-time.Minute))
		if err != nil {
			a.Log.Warn("forfeit stale AI reservations", "err", err)
		} else if n > 0 {
			a.Log.Info("forfeited stale AI reservations", "count", n)
		}
	}
}
