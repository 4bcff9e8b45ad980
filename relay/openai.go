package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/devmesh/devmesh/internal/secret"
	"github.com/devmesh/devmesh/ledger"
)

// OpenAI is a provider that speaks OpenAI's chat completions API: OpenAI
// itself, Azure OpenAI, and any OpenAI-compatible server.
type OpenAI struct {
	name    string
	url     string
	key     secret.String
	header  string // where the key goes: "Authorization" or "api-key"
	maxName string // "max_completion_tokens" or "max_tokens"
	client  *http.Client
}

var _ Provider = (*OpenAI)(nil)

// NewOpenAI returns the provider for OpenAI's API at baseURL (normally
// "https://api.openai.com/v1").
func NewOpenAI(baseURL string, key secret.String, hc *http.Client) *OpenAI {
	return &OpenAI{name: "openai", url: strings.TrimRight(baseURL, "/") + "/chat/completions",
		key: key, header: "Authorization", maxName: "max_completion_tokens", client: orDefault(hc)}
}

// NewAzureOpenAI returns the provider for one Azure OpenAI deployment:
// endpoint is "https://NAME.openai.azure.com", apiVersion such as
// "2024-10-21". Models routed here use the deployment name as Upstream.
func NewAzureOpenAI(endpoint, deployment, apiVersion string, key secret.String, hc *http.Client) *OpenAI {
	u := fmt.Sprintf("%s/openai/deployments/%s/chat/completions?api-version=%s",
		strings.TrimRight(endpoint, "/"), deployment, apiVersion)
	return &OpenAI{name: "azure-openai", url: u, key: key, header: "api-key",
		maxName: "max_completion_tokens", client: orDefault(hc)}
}

// NewOpenAICompatible returns the provider for a server that implements
// the chat completions API at baseURL + "/chat/completions" (vLLM,
// llama.cpp, Ollama and the like). key may be empty.
func NewOpenAICompatible(name, baseURL string, key secret.String, hc *http.Client) *OpenAI {
	return &OpenAI{name: name, url: strings.TrimRight(baseURL, "/") + "/chat/completions",
		key: key, header: "Authorization", maxName: "max_tokens", client: orDefault(hc)}
}

func orDefault(hc *http.Client) *http.Client {
	if hc == nil {
		return &http.Client{Transport: http.DefaultTransport}
	}
	return hc
}

// Name implements Provider.
func (p *OpenAI) Name() string { return p.name }

// Stream implements Provider. It always streams and always asks for the
// usage chunk, whatever the client asked: settlement needs the usage.
func (p *OpenAI) Stream(ctx context.Context, req *Request) (Stream, error) {
	body, err := json.Marshal(p.wire(req))
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", p.name, err)
	}
	h := http.Header{}
	if !p.key.Empty() {
		if p.header == "Authorization" {
			h.Set("Authorization", "Bearer "+p.key.Reveal())
		} else {
			h.Set(p.header, p.key.Reveal())
		}
	}
	resp, err := doStream(ctx, p.client, p.name, p.url, body, h, p.key)
	if err != nil {
		return nil, err
	}
	return &openaiStream{body: resp.Body, sse: newSSEReader(resp.Body), provider: p.name, key: p.key}, nil
}

// wire builds the chat completions body for req.
func (p *OpenAI) wire(req *Request) map[string]any {
	w := map[string]any{"model": req.Model, "messages": chatWireMessages(req),
		"stream": true, "stream_options": map[string]bool{"include_usage": true}}
	if req.MaxTokens > 0 {
		w[p.maxName] = req.MaxTokens
	}
	if req.Temperature != nil {
		w["temperature"] = *req.Temperature
	}
	if req.TopP != nil {
		w["top_p"] = *req.TopP
	}
	if len(req.Stop) > 0 {
		w["stop"] = req.Stop
	}
	if len(req.Tools) > 0 {
		tools := make([]chatTool, len(req.Tools))
		for i, t := range req.Tools {
			tools[i].Type = "function"
			tools[i].Function.Name, tools[i].Function.Description = t.Name, t.Description
			tools[i].Function.Parameters = t.Parameters
		}
		w["tools"] = tools
	}
	switch req.ToolChoice.Mode {
	case "auto", "none", "required":
		w["tool_choice"] = req.ToolChoice.Mode
	case "tool":
		w["tool_choice"] = map[string]any{"type": "function",
			"function": map[string]string{"name": req.ToolChoice.Name}}
	}
	return w
}

func chatWireMessages(req *Request) []map[string]any {
	var out []map[string]any
	if req.System != "" {
		out = append(out, map[string]any{"role": "system", "content": req.System})
	}
	for _, m := range req.Messages {
		var content []map[string]any
		var calls []chatToolCall
		for _, p := range m.Parts {
			switch p.Kind {
			case PartText:
				content = append(content, map[string]any{"type": "text", "text": p.Text})
			case PartImage:
				content = append(content, map[string]any{"type": "image_url",
					"image_url": map[string]string{"url": p.ImageURL}})
			case PartToolCall:
				tc := chatToolCall{ID: p.CallID, Type: "function"}
				tc.Function.Name, tc.Function.Arguments = p.Name, p.Arguments
				calls = append(calls, tc)
			case PartToolResult:
				out = append(out, map[string]any{"role": "tool", "tool_call_id": p.CallID, "content": p.Text})
			}
		}
		if len(content) == 0 && len(calls) == 0 {
			continue
		}
		msg := map[string]any{"role": m.Role}
		if len(content) == 1 && content[0]["type"] == "text" {
			msg["content"] = content[0]["text"]
		} else if len(content) > 0 {
			msg["content"] = content
		}
		if len(calls) > 0 {
			msg["tool_calls"] = calls
		}
		out = append(out, msg)
	}
	return out
}

var chatStops = map[string]StopReason{"stop": StopEnd, "length": StopLength,
	"tool_calls": StopToolCalls, "function_call": StopToolCalls, "content_filter": StopFiltered}

// openaiStream turns chat completion chunks into events.
type openaiStream struct {
	body     io.ReadCloser
	sse      *sseReader
	provider string
	key      secret.String
	eventQueue
}

type chatChunk struct {
	Choices []struct {
		Delta struct {
			Content   *string        `json:"content"`
			ToolCalls []chatToolCall `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *chatUsage `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func (s *openaiStream) Next() (Event, error) { return s.next(s.read) }

func (s *openaiStream) read() error {
	ev, err := s.sse.Next()
	if errors.Is(err, io.EOF) {
		// Without [DONE] the stream was cut short.
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	if string(ev.Data) == "[DONE]" {
		s.done = true
		return nil
	}
	var c chatChunk
	if err := json.Unmarshal(ev.Data, &c); err != nil {
		return fmt.Errorf("decode %s chunk: %w", s.provider, err)
	}
	if c.Error != nil {
		return &UpstreamError{Provider: s.provider, Status: http.StatusBadGateway,
			Message: sanitize(c.Error.Message, s.key)}
	}
	for _, ch := range c.Choices {
		if d := ch.Delta.Content; d != nil && *d != "" {
			s.pending = append(s.pending, Event{Kind: EventText, Text: *d})
		}
		for _, tc := range ch.Delta.ToolCalls {
			i := 0
			if tc.Index != nil {
				i = *tc.Index
			}
			if tc.ID != "" || tc.Function.Name != "" {
				s.pending = append(s.pending, Event{Kind: EventToolCall, Index: i,
					CallID: tc.ID, Name: tc.Function.Name})
			}
			if tc.Function.Arguments != "" {
				s.pending = append(s.pending, Event{Kind: EventToolArgs, Index: i, Text: tc.Function.Arguments})
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			stop, ok := chatStops[*ch.FinishReason]
			if !ok {
				stop = StopEnd
			}
			s.pending = append(s.pending, Event{Kind: EventStop, Stop: stop})
		}
	}
	if c.Usage != nil {
		// prompt_tokens already includes the cached tokens.
		s.pending = append(s.pending, Event{Kind: EventUsage, Usage: ledger.Usage{
			InputTokens: c.Usage.PromptTokens, CachedInputTokens: c.Usage.PromptTokensDetails.CachedTokens,
			OutputTokens: c.Usage.CompletionTokens}})
	}
	return nil
}

func (s *openaiStream) Close() error { return s.body.Close() }
