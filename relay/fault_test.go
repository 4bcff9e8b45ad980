package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/ledger"
	"github.com/devmesh/devmesh/relay"
)

func fastTimeouts(c *relay.Config) {
	c.FirstByteTimeout = 150 * time.Millisecond
}

// settlements returns the ledger.settled events in order.
func (m *memLog) settlements(t testing.TB) []ledger.Settlement {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ledger.Settlement
	for _, e := range m.entries {
		if e.Kind == audit.KindLedgerSettled {
			var s ledger.Settlement
			if err := json.Unmarshal(e.Payload, &s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
	}
	return out
}

// checkHygiene fails if the provider key, any 8-byte run of it, or the
// candidate token appears in the logs, the audit events or texts.
func (e *env) checkHygiene(t testing.TB, texts ...string) {
	t.Helper()
	texts = append(texts, e.Logs.String(), string(e.Log.all()))
	for i, text := range texts {
		if strings.Contains(text, candidateToken) {
			t.Errorf("text %d contains the candidate token", i)
		}
		for j := 0; j+8 <= len(providerKey); j++ {
			if strings.Contains(text, providerKey[j:j+8]) {
				t.Errorf("text %d contains provider key fragment %q", i, providerKey[j:j+8])
				break
			}
		}
	}
}

func TestUpstreamFaultsSettleByPolicy(t *testing.T) {
	cases := []struct {
		name  string
		fault fault
		// state is how the reservation must close.
		state   string
		wantErr bool
	}{
		{"slow first byte releases", faultSlowFirst, ledger.StateReleased, true},
		{"upstream 500 releases", fault500, ledger.StateReleased, true},
		{"mid-stream cut forfeits the reservation", faultCut, ledger.StateForfeited, true},
		{"missing usage forfeits the reservation", faultNoUsage, ledger.StateForfeited, false},
		{"over-reported usage is capped at the reservation", faultOverUsage, ledger.StateSettled, false},
	}
	for _, model := range []string{"gpt-test", "claude-test"} {
		for _, tc := range cases {
			for _, stream := range []bool{false, true} {
				name := model + "/" + tc.name
				if stream {
					name += "/stream"
				}
				t.Run(name, func(t *testing.T) {
					up := newUpstream(t)
					up.pick = func() fault { return tc.fault }
					e := newEnv(t, nil, upstreamModels(up), withConfig(fastTimeouts))
					body, err := rawCall(t, e, model, stream)
					if tc.wantErr != (err != nil) {
						t.Fatalf("error = %v, want error: %v (body %s)", err, tc.wantErr, body)
					}
					e.balance(t) // waits for the settlement
					ss := e.Log.settlements(t)
					if len(ss) != 1 || ss[0].State != tc.state {
						t.Fatalf("settlements %+v, want one %s", ss, tc.state)
					}
					s := ss[0]
					switch tc.state {
					case ledger.StateReleased:
						if s.Charged != 0 {
							t.Errorf("released reservation charged %d", s.Charged)
						}
					case ledger.StateForfeited:
						if s.Charged != s.Reserved {
							t.Errorf("forfeited reservation charged %d of %d", s.Charged, s.Reserved)
						}
					}
					if tc.fault == faultOverUsage && (s.Charged != s.Reserved || s.Overage <= 0) {
						t.Errorf("over-reported usage: charged %d of %d, overage %d", s.Charged, s.Reserved, s.Overage)
					}
					e.checkBooks(t)
					e.checkHygiene(t, body)
				})
			}
		}
	}
}

// rawCall sends a minimal request in the upstream's own client format
// without retries and returns the whole response body, and an error for
// a non-200 status or a stream that reported failure.
func rawCall(t testing.TB, e *env, model string, stream bool) (string, error) {
	var body string
	var err error
	if strings.HasPrefix(model, "claude") {
		c := anthropicClient(e, aoption.WithMaxRetries(0))
		p := messagesParams(model, "say hello", false)
		if stream {
			st := c.Messages.NewStreaming(t.Context(), p)
			for st.Next() {
				b, _ := json.Marshal(st.Current())
				body += string(b)
			}
			err = st.Err()
		} else {
			var m *anthropic.Message
			m, err = c.Messages.New(t.Context(), p)
			if m != nil {
				body = m.RawJSON()
			}
		}
	} else {
		c := openaiClient(e, option.WithMaxRetries(0))
		p := chatParams(model, "say hello", false)
		if stream {
			st := c.Chat.Completions.NewStreaming(t.Context(), p)
			for st.Next() {
				body += st.Current().RawJSON()
			}
			err = st.Err()
		} else {
			var r *openai.ChatCompletion
			r, err = c.Chat.Completions.New(t.Context(), p)
			if r != nil {
				body = r.RawJSON()
			}
		}
	}
	if err != nil {
		body += err.Error()
	}
	return body, err
}

func TestUpstreamErrorBodiesAreSanitised(t *testing.T) {
	up := newUpstream(t)
	models := upstreamModels(up)
	models[0].Provider = relay.NewOpenAI(up.URL+"/v1", secretOf("sk-wrong-key-0123456789abcdef"), up.Client())
	e := newEnv(t, nil, models)
	c := openaiClient(e, option.WithMaxRetries(0))
	_, err := c.Chat.Completions.New(t.Context(), chatParams("gpt-test", "hi", false))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err = %v, want 503", err)
	}
	for _, leak := range []string{"sk-wrong", "0123456789abcdef", "sk-test"} {
		if strings.Contains(err.Error(), leak) || strings.Contains(e.Logs.String(), leak) ||
			strings.Contains(string(e.Log.all()), leak) {
			t.Errorf("%q leaked into the error, the logs or the audit log", leak)
		}
	}
	e.checkHygiene(t, err.Error())
}

func TestUpstreamRequestShape(t *testing.T) {
	up := newUpstream(t)
	e := newEnv(t, nil, upstreamModels(up))
	c := openaiClient(e)
	if _, err := c.Chat.Completions.New(t.Context(), chatParams("gpt-test", "hi", false)); err != nil {
		t.Fatal(err)
	}
	got := up.last()
	opts, _ := got.Body["stream_options"].(map[string]any)
	if got.Body["stream"] != true || opts["include_usage"] != true {
		t.Errorf("upstream body %s: want stream with include_usage forced", got.Raw)
	}
	if n, _ := got.Body["max_completion_tokens"].(float64); n <= 0 || n > float64(relay.DefaultConfig().DefaultMaxOutput) {
		t.Errorf("injected max_completion_tokens = %v", got.Body["max_completion_tokens"])
	}

	ac := anthropicClient(e, aoption.WithHeader("anthropic-beta", "test-beta-1"))
	if _, err := ac.Messages.New(t.Context(), messagesParams("claude-test", "hi", false)); err != nil {
		t.Fatal(err)
	}
	got = up.last()
	if got.Header.Get("anthropic-version") == "" || got.Header.Get("anthropic-beta") != "test-beta-1" {
		t.Errorf("anthropic headers not forwarded: %v", got.Header)
	}
	if got.Body["model"] != "claude-upstream" {
		t.Errorf("upstream model %v, want the configured upstream name", got.Body["model"])
	}
	for _, r := range up.requests {
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, candidateToken) {
					t.Errorf("candidate token sent upstream in %s", k)
				}
			}
		}
	}
}

func TestClientDisconnectCancelsUpstreamAndForfeits(t *testing.T) {
	for _, model := range []string{"gpt-test", "claude-test"} {
		t.Run(model, func(t *testing.T) {
			up := newUpstream(t)
			up.pick = func() fault { return faultSlowStream }
			e := newEnv(t, nil, upstreamModels(up))
			ctx, cancel := context.WithCancel(t.Context())
			path, body := "/v1/chat/completions", `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			if model == "claude-test" {
				path, body = "/v1/messages", `{"model":"claude-test","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+candidateToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			if _, err := io.ReadAtLeast(resp.Body, buf, 1); err != nil {
				t.Fatal(err)
			}
			cancel()
			resp.Body.Close()
			select {
			case <-up.last().Cancelled:
			case <-time.After(5 * time.Second):
				t.Fatal("upstream request was not cancelled after the client left")
			}
			ss := waitSettlements(t, e, 1)
			if ss[0].State != ledger.StateForfeited || ss[0].Charged != ss[0].Reserved {
				t.Fatalf("settlement %+v, want the whole reservation forfeited", ss[0])
			}
			e.checkBooks(t)
		})
	}
}

func waitSettlements(t testing.TB, e *env, n int) []ledger.Settlement {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ss := e.Log.settlements(t); len(ss) >= n {
			return ss
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("fewer than %d settlements after 5s", n)
	return nil
}

func TestAuditFailureSendsNothing(t *testing.T) {
	up := newUpstream(t)
	e := newEnv(t, nil, upstreamModels(up))
	e.Log.fail = true
	c := openaiClient(e, option.WithMaxRetries(0))
	_, err := c.Chat.Completions.New(t.Context(), chatParams("gpt-test", "hi", false))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err = %v, want 503", err)
	}
	if up.count() != 0 {
		t.Fatalf("%d requests reached the provider without an audit record", up.count())
	}
	if b := e.balance(t); b.Reserved != 0 || b.Used != 0 {
		t.Fatalf("balance %+v, want the reservation released", b)
	}
}

func TestPerSubmissionLimits(t *testing.T) {
	t.Run("requests in flight", func(t *testing.T) {
		up := newUpstream(t)
		up.pick = func() fault { return faultSlowStream }
		e := newEnv(t, nil, upstreamModels(up), withConfig(func(c *relay.Config) { c.MaxConcurrent = 1 }))
		done := make(chan struct{})
		go func() {
			defer close(done)
			c := openaiClient(e)
			c.Chat.Completions.New(context.Background(), chatParams("gpt-test", "hi", false))
		}()
		deadline := time.Now().Add(5 * time.Second)
		for up.count() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		resp := post(t, e, "/v1/chat/completions", `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("second concurrent request: %d (Retry-After %q), want 429 with Retry-After",
				resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		<-done
	})
	t.Run("requests per minute", func(t *testing.T) {
		e := newEnv(t, nil, offlineModels(), withConfig(func(c *relay.Config) { c.RequestsPerMinute = 2 }))
		body := `{"model":"devmesh-offline-demo","messages":[{"role":"user","content":"hi"}]}`
		for i, want := range []int{200, 200, 429} {
			if got := post(t, e, "/v1/chat/completions", body).StatusCode; got != want {
				t.Fatalf("request %d: status %d, want %d", i, got, want)
			}
		}
	})
}

func post(t testing.TB, e *env, path, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.URL+path, strings.NewReader(body))
	req.Header.Set("x-api-key", candidateToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
