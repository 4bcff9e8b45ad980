package relay_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/devmesh/devmesh/audit"
	"github.com/devmesh/devmesh/relay"
)

func openaiClient(e *env, opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(e.URL + "/v1/"), option.WithAPIKey(candidateToken),
		option.WithMaxRetries(2)}, opts...)...)
}

func TestOpenAIChatOffline(t *testing.T) {
	e := newEnv(t, nil, offlineModels())
	c := openaiClient(e)
	var hdr http.Header
	resp, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:    relay.OfflineModelID,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello relay")},
	}, option.WithResponseInto(new(*http.Response)), captureHeader(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	text := resp.Choices[0].Message.Content
	if !strings.Contains(text, "not a real AI") || !strings.Contains(text, "hello relay") {
		t.Fatalf("offline answer %q does not label itself or echo the prompt", text)
	}
	if resp.Usage.CompletionTokens == 0 || resp.Choices[0].FinishReason != "stop" {
		t.Fatalf("usage %+v finish %q", resp.Usage, resp.Choices[0].FinishReason)
	}
	b := e.balance(t)
	if b.Used != resp.Usage.TotalTokens {
		t.Fatalf("ledger used %d, response usage %d", b.Used, resp.Usage.TotalTokens)
	}
	if got := hdr.Get(relay.HeaderBudgetRemaining); got == "" {
		t.Errorf("no %s header", relay.HeaderBudgetRemaining)
	}
	want := []audit.Kind{audit.KindLedgerReserved, audit.KindAIRequest, audit.KindAIResponse, audit.KindLedgerSettled}
	if got := e.Log.kinds(); !equalKinds(got, want) {
		t.Fatalf("audit kinds %v, want %v", got, want)
	}
	e.checkBooks(t)
}

func captureHeader(h *http.Header) option.RequestOption {
	return option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		resp, err := next(r)
		if resp != nil {
			*h = resp.Header
		}
		return resp, err
	})
}

func equalKinds(a, b []audit.Kind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOpenAIChatStreamOffline(t *testing.T) {
	for _, includeUsage := range []bool{false, true} {
		name := map[bool]string{false: "usage chunk stripped", true: "usage chunk kept"}[includeUsage]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil, offlineModels())
			c := openaiClient(e)
			params := openai.ChatCompletionNewParams{Model: relay.OfflineModelID,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream please")}}
			if includeUsage {
				params.StreamOptions.IncludeUsage = openai.Bool(true)
			}
			st := c.Chat.Completions.NewStreaming(t.Context(), params)
			acc := openai.ChatCompletionAccumulator{}
			usageChunks := 0
			for st.Next() {
				ch := st.Current()
				acc.AddChunk(ch)
				if len(ch.Choices) == 0 && ch.Usage.TotalTokens > 0 {
					usageChunks++
				}
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(acc.Choices[0].Message.Content, "stream please") {
				t.Fatalf("streamed text %q", acc.Choices[0].Message.Content)
			}
			if want := map[bool]int{false: 0, true: 1}[includeUsage]; usageChunks != want {
				t.Fatalf("%d usage chunks, want %d", usageChunks, want)
			}
			if b := e.balance(t); b.Used == 0 {
				t.Fatal("stream settled nothing")
			}
			e.checkBooks(t)
		})
	}
}

func TestBudgetRefusalIsNotRetried(t *testing.T) {
	e := newEnv(t, nil, offlineModels(), withBudget(50))
	calls := 0
	c := openaiClient(e, option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		calls++
		return next(r)
	}))
	_, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: relay.OfflineModelID, MaxTokens: openai.Int(1000),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want 429", err)
	}
	if !strings.Contains(apiErr.Message, "budget") {
		t.Errorf("refusal %q does not explain the budget", apiErr.Message)
	}
	if calls != 1 {
		t.Fatalf("client sent %d requests, want 1 (x-should-retry: false)", calls)
	}
	if len(e.Log.kinds()) != 0 {
		t.Fatalf("refused request produced events %v", e.Log.kinds())
	}
	e.checkBooks(t)
}

func TestModelsListsOnlyAllowedModels(t *testing.T) {
	models := append(offlineModels(), relay.Model{ID: "secret-model", Provider: relay.Offline{}})
	e := newEnv(t, nil, models, withConfig(func(*relay.Config) {}), func(_ *relay.Config, p *relay.Policy) {
		p.Models = []string{relay.OfflineModelID}
	})
	c := openaiClient(e)
	page, err := c.Models.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != relay.OfflineModelID {
		t.Fatalf("models = %+v, want only %s", page.Data, relay.OfflineModelID)
	}
	_, err = c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: "secret-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Fatalf("disallowed model: %v, want 404", err)
	}
}

func TestCountTokensReservesNothing(t *testing.T) {
	up := newUpstream(t)
	e := newEnv(t, nil, upstreamModels(up))
	c := anthropicClient(e)
	n, err := c.Messages.CountTokens(t.Context(), anthropic.MessageCountTokensParams{
		Model: "claude-test", Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock("count these words please"))}})
	if err != nil {
		t.Fatal(err)
	}
	if n.InputTokens < int64(len("count these words please")) {
		t.Fatalf("count %d is below the byte bound of the text", n.InputTokens)
	}
	if up.count() != 0 || len(e.Log.kinds()) != 0 {
		t.Fatalf("counting reached the provider (%d) or the audit log (%v)", up.count(), e.Log.kinds())
	}
}

func TestResponsesRefusesStoredConversations(t *testing.T) {
	e := newEnv(t, nil, offlineModels())
	resp := post(t, e, "/v1/responses", `{"model":"devmesh-offline-demo","input":"hi","previous_response_id":"resp_1"}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}
