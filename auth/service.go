package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/server"
	"github.com/devmesh/devmesh/store"
)

// Config holds the tunable parts of the auth service.
type Config struct {
	// Issuer is the iss of every token; verification demands it.
	Issuer string
	// PublicURL is the base URL candidates open invites at, such as
	// "https://devmesh.example.com".
	PublicURL string
	// AccessTTL is the lifetime of recruiter tokens; at most
	// MaxTokenLifetime.
	AccessTTL time.Duration
	// CandidateTTL is the lifetime of candidate tokens; at most
	// MaxTokenLifetime.
	CandidateTTL time.Duration
	// RefreshTTL is how long an unused refresh token stays valid.
	RefreshTTL time.Duration
	// InviteTTL is how long an invite can be exchanged.
	InviteTTL time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway time.Duration
	// KeyReload is how often the signing key set is re-read from the
	// store, so rotations reach every replica.
	KeyReload time.Duration
	// MinKeyReload is the least time between two reloads caused by tokens
	// naming an unknown key.
	MinKeyReload time.Duration
	// SessionDuration is a candidate's working time when SessionLength
	// is nil.
	SessionDuration time.Duration
	// LoginPerAccount and LoginPerIP limit sign-in attempts.
	LoginPerAccount Rate
	LoginPerIP      Rate
}

// DefaultConfig returns a configuration that works out of the box on
// https://localhost:8443.
func DefaultConfig() Config {
	return Config{
		Issuer:          "devmesh",
		PublicURL:       "https://localhost:8443",
		AccessTTL:       MaxTokenLifetime,
		CandidateTTL:    MaxTokenLifetime,
		RefreshTTL:      12 * time.Hour,
		InviteTTL:       7 * 24 * time.Hour,
		Leeway:          30 * time.Second,
		KeyReload:       30 * time.Second,
		MinKeyReload:    5 * time.Second,
		SessionDuration: 90 * time.Minute,
		LoginPerAccount: Rate{Burst: 5, Every: time.Minute},
		LoginPerIP:      Rate{Burst: 20, Every: 3 * time.Second},
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var problems []error
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf(format, args...))
	}
	if c.Issuer == "" {
		bad("issuer is empty")
	}
	if u, err := url.Parse(c.PublicURL); err != nil || u.Host == "" ||
		(u.Scheme != "https" && u.Scheme != "http") {
		bad("invalid public url %q: want http(s)://host", c.PublicURL)
	}
	for name, d := range map[string]time.Duration{"access": c.AccessTTL, "candidate": c.CandidateTTL} {
		if d <= 0 || d > MaxTokenLifetime {
			bad("invalid %s token lifetime %s: must be in (0, %s]", name, d, MaxTokenLifetime)
		}
	}
	for name, d := range map[string]time.Duration{"refresh token lifetime": c.RefreshTTL,
		"invite lifetime": c.InviteTTL, "key reload interval": c.KeyReload,
		"session duration": c.SessionDuration} {
		if d <= 0 {
			bad("invalid %s %s: must be positive", name, d)
		}
	}
	if c.Leeway < 0 || c.Leeway > 5*time.Minute {
		bad("invalid leeway %s: must be in [0, 5m]", c.Leeway)
	}
	if c.MinKeyReload < 0 {
		bad("invalid minimum key reload interval %s", c.MinKeyReload)
	}
	for name, r := range map[string]Rate{"per-account": c.LoginPerAccount, "per-ip": c.LoginPerIP} {
		if r.Burst <= 0 || r.Every <= 0 {
			bad("invalid %s login rate %+v: burst and interval must be positive", name, r)
		}
	}
	return errors.Join(problems...)
}

// Deps are what the service is given rather than reaching for globals.
type Deps struct {
	DB        *store.DB
	MasterKey secret.Bytes
	Audit     audit.Appender
	Log       *slog.Logger
	// Now is the clock of token times and rate limits; time.Now if nil.
	Now func() time.Time
	// Hasher hashes and checks passwords; NewHasher(DefaultParams) if nil.
	Hasher PasswordHasher
	// SessionLength returns a candidate's working time for a submission
	// about to open (its ID, OrgID, AssessmentID and State are set), such
	// as the session duration of the assessment's task bundle;
	// cfg.SessionDuration for every submission if nil. An error fails the
	// exchange without spending the invite.
	SessionLength func(ctx context.Context, sub store.Submission) (time.Duration, error)
	// Opening returns entries to append right after submission.opened,
	// in the same batch: the task's starter files as editor operations,
	// so that the log alone rebuilds the workspace. Nil appends none.
	Opening func(ctx context.Context, sub store.Submission) ([]audit.Entry, error)
	// Budget returns a submission's AI token account for the session
	// route; nil leaves it out.
	Budget func(ctx context.Context, submissionID string) (TokenBudget, error)
}

// Service issues and verifies tokens and serves the sign-in, invite and
// token-exchange routes. It is safe for concurrent use.
type Service struct {
	cfg     Config
	db      *store.DB
	audit   audit.Appender
	log     *slog.Logger
	now     func() time.Time
	hasher  PasswordHasher
	dummy   string // a hash verified when the email is unknown
	keys    *keySet
	session func(ctx context.Context, sub store.Submission) (time.Duration, error)
	opening func(ctx context.Context, sub store.Submission) ([]audit.Entry, error)
	budget  func(ctx context.Context, submissionID string) (TokenBudget, error)
	perAcct *Limiter
	perIP   *Limiter
	oidc    *oidcLogin // nil unless EnableOIDC was called
}

var _ server.Authenticator = (*Service)(nil)

// New returns a service over deps, creating the first signing key if the
// store has none.
func New(ctx context.Context, deps Deps, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	if deps.DB == nil || deps.Audit == nil {
		return nil, fmt.Errorf("auth: a database and an audit appender are required")
	}
	aead, err := newAEAD(deps.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s := &Service{cfg: cfg, db: deps.DB, audit: deps.Audit, log: deps.Log,
		now: deps.Now, hasher: deps.Hasher, session: deps.SessionLength,
		opening: deps.Opening, budget: deps.Budget}
	s.setDefaults()
	s.keys = &keySet{store: &keyStore{db: deps.DB, aead: aead}, log: s.log,
		now: s.now, minReload: cfg.MinKeyReload}
	if s.dummy, err = s.hasher.Hash(s.randomID()); err != nil {
		return nil, err
	}
	s.perAcct = NewLimiter(cfg.LoginPerAccount, s.now)
	s.perIP = NewLimiter(cfg.LoginPerIP, s.now)
	if err := s.keys.ensure(ctx); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return s, nil
}

func (s *Service) setDefaults() {
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.hasher == nil {
		s.hasher = NewHasher(DefaultParams)
	}
	if s.session == nil {
		d := s.cfg.SessionDuration
		s.session = func(context.Context, store.Submission) (time.Duration, error) { return d, nil }
	}
}

// Run reloads the signing keys every cfg.KeyReload until ctx ends. Run it
// in its own goroutine on every replica.
func (s *Service) Run(ctx context.Context) { s.keys.run(ctx, s.cfg.KeyReload) }

// Rotate adds a new signing key and makes it the one that signs. Older
// keys keep verifying until every token they signed has expired (the
// longest token lifetime plus the leeway, from now), and are retired by
// the first Rotate after that. It returns the new key's id. Other
// replicas pick the new key up at their next reload.
func (s *Service) Rotate(ctx context.Context) (string, error) {
	return s.keys.rotate(ctx, MaxTokenLifetime+s.cfg.Leeway)
}

// Routes returns the routes of the service: JWKS, sign-in, refresh,
// sign-out, invites, the invite page, token exchange, the candidate's
// session, and single sign-on when enabled.
func (s *Service) Routes() []server.Route {
	return append(s.oidcRoutes(), []server.Route{
		{Pattern: "GET /.well-known/jwks.json", Audience: server.Public, Handler: s.serveJWKS},
		{Pattern: "POST /api/v1/login", Audience: server.Public, MaxBody: 4 << 10, Handler: s.login},
		{Pattern: "POST /api/v1/token/refresh", Audience: server.Public, MaxBody: 4 << 10, Handler: s.refresh},
		{Pattern: "POST /api/v1/logout", Audience: server.Public, MaxBody: 4 << 10, Handler: s.logout},
		{Pattern: "POST /api/v1/assessments/{id}/invitations", Audience: server.Recruiter,
			Roles: CanInvite, MaxBody: 4 << 10, Handler: s.invite},
		{Pattern: "GET /invite", Audience: server.Public, Browser: true, Handler: s.invitePage},
		{Pattern: "GET /invite.js", Audience: server.Public, Browser: true, Handler: s.inviteScript},
		{Pattern: "POST /oauth/token", Audience: server.Public, MaxBody: 8 << 10, Handler: s.token},
		{Pattern: "GET /api/v1/session", Audience: server.Candidate, Handler: s.sessionInfo},
	}...)
}

// randomID returns 128 random bits, base64url-encoded.
func (s *Service) randomID() string { return randomToken(16) }

// randomToken returns n random bytes, base64url-encoded without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("read random source: %v", err)) // crypto/rand does not fail
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken returns the hex SHA-256 of an opaque token: what the store
// keeps instead of the token. The tokens carry at least 128 random bits,
// so a fast hash suffices; no one can guess a token from its hash.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// RotateKeys rotates the signing keys in db without a running service, for
// `devmesh keys rotate`: it creates the first key if there is none, then
// adds a new signing key and schedules the older ones to retire, as
// Service.Rotate does with the default leeway. Running replicas pick the
// new key up at their next reload.
func RotateKeys(ctx context.Context, db *store.DB, master secret.Bytes, log *slog.Logger) (string, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return "", fmt.Errorf("rotate signing keys: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ks := &keySet{store: &keyStore{db: db, aead: aead}, log: log, now: time.Now}
	if err := ks.reload(ctx); err != nil {
		return "", err
	}
	return ks.rotate(ctx, MaxTokenLifetime+DefaultConfig().Leeway)
}
