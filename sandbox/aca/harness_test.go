package aca

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/sandbox"
)

// fakeAudience is the token audience of the fake's cloud.
const fakeAudience = "https://management.fake.test"

// fakeCredential is a test double of an Azure identity: it hands out
// one static token for the fake's audience and records bad scopes.
type fakeCredential struct {
	audience string // default fakeAudience
	mu       sync.Mutex
	scopes   [][]string
}

func (c *fakeCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = append(c.scopes, o.Scopes)
	aud := c.audience
	if aud == "" {
		aud = fakeAudience
	}
	if !slices.Equal(o.Scopes, []string{aud + "/.default"}) {
		return azcore.AccessToken{}, fmt.Errorf("fake credential: unexpected scopes %q", o.Scopes)
	}
	return azcore.AccessToken{Token: fakeToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// fakeStager is a test double of a workspace store: it keeps the
// archive in memory and returns a URL with a recognisable signature.
type fakeStager struct {
	mu       sync.Mutex
	archives map[string][]byte
	ttls     map[string]time.Duration
	removed  []string
}

func (s *fakeStager) Stage(_ context.Context, id string, r io.Reader, ttl time.Duration) (
	secret.String, func(context.Context) error, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return secret.String{}, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.archives[id], s.ttls[id] = b, ttl
	remove := func(context.Context) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.removed = append(s.removed, id)
		return nil
	}
	return secret.New(sasURL(id)), remove, nil
}

func sasURL(id string) string {
	return "https://stage.example/ws/" + id + ".tar.gz?sp=r&sig=SAS-SIGNATURE-" + id
}

// fakeLogs is a test double of a Log Analytics reader.
type fakeLogs struct {
	mu    sync.Mutex
	logs  Logs
	calls []string
}

func (l *fakeLogs) ReadLogs(_ context.Context, exec, container string, limit int64) (Logs, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, exec+"/"+container)
	out := l.logs
	out.Stdout = clip(out.Stdout, limit)
	out.Stderr = clip(out.Stderr, limit-int64(len(out.Stdout)))
	return out, nil
}

// harness is a driver wired to a fakeARM with the real SDK clients.
type harness struct {
	arm    *fakeARM
	cred   *fakeCredential
	stager *fakeStager
	logs   *fakeLogs
	logBuf *bytes.Buffer
	d      *Driver
}

const fetchImage = "registry.example/busybox@sha256:" +
	"1111111111111111111111111111111111111111111111111111111111111111"

func newHarness(t testing.TB, tweak ...func(*Options)) *harness {
	t.Helper()
	h := &harness{
		arm:    newFakeARM(t),
		cred:   &fakeCredential{},
		stager: &fakeStager{archives: map[string][]byte{}, ttls: map[string]time.Duration{}},
		logs:   &fakeLogs{logs: Logs{ExitCode: -1}},
		logBuf: &bytes.Buffer{},
	}
	opts := Options{
		Logger:         slog.New(slog.NewJSONHandler(&lockedWriter{w: h.logBuf}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SubscriptionID: fakeSub,
		ResourceGroup:  fakeRG,
		JobName:        fakeJob,
		Credential:     h.cred,
		ClientOptions:  fakeClientOptions(h.arm),
		Stager:         h.stager,
		Logs:           h.logs,
		FetchImage:     fetchImage,
		PollInterval:   5 * time.Millisecond,
		StartTimeout:   5 * time.Second,
		StopTimeout:    5 * time.Second,
	}
	for _, f := range tweak {
		f(&opts)
	}
	d, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.d = d
	return h
}

// fakeClientOptions points the SDK at the fake over TLS, trusting its
// certificate, with retry delays short enough for tests.
func fakeClientOptions(f *fakeARM) *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: "https://login.fake.test/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: f.srv.URL, Audience: fakeAudience},
			},
		},
		Transport: f.srv.Client(),
		Retry: policy.RetryOptions{
			MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond,
		},
	}}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func testJob(id string) sandbox.Job {
	l := sandbox.DefaultLimits()
	l.WallTime = 2 * time.Second
	return sandbox.Job{
		ID:        id,
		Runtime:   "python",
		Command:   []string{"python3", "-c", "print('hi $HOME')"},
		Workspace: bytes.NewReader([]byte("fake tar.gz bytes")),
		Limits:    l,
	}
}
