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

// DefaultAnthropicVersion is sent when the client named none.
const DefaultAnthropicVersion = "2023-06-01"

// Anthropic is a provider that speaks Anthropic's Messages API.
type Anthropic struct {
	url    string
	key    secret.String
	client *http.Client
}

var _ Provider = (*Anthropic)(nil)

// NewAnthropic returns the provider for the Messages API at baseURL
// (normally "https://api.anthropic.com").
func NewAnthropic(baseURL string, key secret.String, hc *http.Client) *Anthropic {
	return &Anthropic{url: strings.TrimRight(baseURL, "/") + "/v1/messages", key: key, client: orDefault(hc)}
}

// Name implements Provider.
func (p *Anthropic) Name() string { return "anthropic" }

// Stream implements Provider. The client's anthropic-version and
// anthropic-beta headers are forwarded; the key is the relay's.
func (p *Anthropic) Stream(ctx context.Context, req *Request) (Stream, error) {
	body, err := json.Marshal(anthropicWire(req))
	if err != nil {
		return nil, fmt.Errorf("encode anthropic request: %w", err)
	}
	h := http.Header{}
	h.Set("anthropic-version", DefaultAnthropicVersion)
	for k, v := range req.Header {
		h.Set(k, v)
	}
	h.Set("x-api-key", p.key.Reveal())
	resp, err := doStream(ctx, p.client, p.Name(), p.url, body, h, p.key)
	if err != nil {
		return nil, err
	}
	return &anthropicStream{body: resp.Body, sse: newSSEReader(resp.Body), key: p.key,
		blocks: map[int]int{}}, nil
}

func anthropicWire(req *Request) map[string]any {
	w := map[string]any{"model": req.Model, "max_tokens": req.MaxTokens,
		"messages": anthropicMessages(req), "stream": true}
	if req.System != "" {
		w["system"] = req.System
	}
	if req.Temperature != nil {
		w["temperature"] = *req.Temperature
	}
	if req.TopP != nil {
		w["top_p"] = *req.TopP
	}
	if len(req.Stop) > 0 {
		w["stop_sequences"] = req.Stop
	}
	if len(req.Tools) > 0 {
		tools := make([]msgTool, len(req.Tools))
		for i, t := range req.Tools {
			tools[i] = msgTool{Name: t.Name, Description: t.Description, InputSchema: t.Parameters}
			if len(t.Parameters) == 0 {
				tools[i].InputSchema = json.RawMessage(`{"type":"object"}`)
			}
		}
		w["tools"] = tools
	}
	if m := req.ToolChoice.Mode; m != "" {
		typ := map[string]string{"auto": "auto", "required": "any", "none": "none", "tool": "tool"}[m]
		w["tool_choice"] = msgToolChoice{Type: typ, Name: req.ToolChoice.Name}
	}
	return w
}

func anthropicMessages(req *Request) []map[string]any {
	out := make([]map[string]any, 0, len(req.Messages))
	for _, m := range req.Messages {
		blocks := make([]any, 0, len(m.Parts))
		for _, p := range m.Parts {
			switch p.Kind {
			case PartText:
				blocks = append(blocks, msgBlock{Type: "text", Text: p.Text})
			case PartImage:
				blocks = append(blocks, msgBlock{Type: "image", Source: imageSource(p.ImageURL)})
			case PartToolCall:
				blocks = append(blocks, msgBlock{Type: "tool_use", ID: p.CallID, Name: p.Name,
					Input: jsonOrEmpty(p.Arguments)})
			case PartToolResult:
				content, _ := json.Marshal(p.Text)
				blocks = append(blocks, msgBlock{Type: "tool_result", ToolUseID: p.CallID,
					Content: content, IsError: p.IsError})
			}
		}
		out = append(out, map[string]any{"role": m.Role, "content": blocks})
	}
	return out
}

// imageSource turns a data: URL into a base64 source, anything else into
// a URL source.
func imageSource(u string) *msgSource {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		if media, data, ok := strings.Cut(rest, ";base64,"); ok {
			return &msgSource{Type: "base64", MediaType: media, Data: data}
		}
	}
	return &msgSource{Type: "url", URL: u}
}

var anthropicStops = map[string]StopReason{"end_turn": StopEnd, "stop_sequence": StopEnd,
	"max_tokens": StopLength, "tool_use": StopToolCalls, "refusal": StopFiltered,
	"pause_turn": StopEnd}

// anthropicStream turns Messages stream events into relay events.
type anthropicStream struct {
	body io.ReadCloser
	sse  *sseReader
	key  secret.String
	eventQueue
	blocks map[int]int // content block index -> tool call index
	tools  int
	usage  msgUsage
	// usageSeen is set by the first message_delta carrying usage: only
	// then is the output count known.
	usageSeen bool
}

type anthropicEvent struct {
	Type    string `json:"type"`
	Message *struct {
		Usage *usageDelta `json:"usage"`
	} `json:"message"`
	Index        int       `json:"index"`
	ContentBlock *msgBlock `json:"content_block"`
	Delta        *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *usageDelta `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *anthropicStream) Next() (Event, error) { return s.next(s.read) }

func (s *anthropicStream) read() error {
	ev, err := s.sse.Next()
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF // no message_stop: cut short
	}
	if err != nil {
		return err
	}
	var e anthropicEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return fmt.Errorf("decode anthropic event: %w", err)
	}
	switch e.Type {
	case "message_start":
		if e.Message != nil {
			s.merge(e.Message.Usage)
		}
	case "content_block_start":
		if b := e.ContentBlock; b != nil && b.Type == "tool_use" {
			s.blocks[e.Index] = s.tools
			s.pending = append(s.pending, Event{Kind: EventToolCall, Index: s.tools, CallID: b.ID, Name: b.Name})
			s.tools++
		}
	case "content_block_delta":
		s.delta(e)
	case "message_delta":
		if e.Delta != nil && e.Delta.StopReason != "" {
			stop, ok := anthropicStops[e.Delta.StopReason]
			if !ok {
				stop = StopEnd
			}
			s.pending = append(s.pending, Event{Kind: EventStop, Stop: stop})
		}
		if e.Usage != nil {
			// Cumulative totals: the last value of each field wins; they
			// are never added to message_start's.
			s.merge(e.Usage)
			s.usageSeen = true
		}
	case "message_stop":
		s.done = true
		if s.usageSeen {
			u := s.usage
			s.pending = append(s.pending, Event{Kind: EventUsage, Usage: ledger.Usage{
				InputTokens:       u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
				CachedInputTokens: u.CacheReadInputTokens, OutputTokens: u.OutputTokens}})
		}
	case "error":
		msg := "stream error"
		if e.Error != nil {
			msg = e.Error.Message
		}
		return &UpstreamError{Provider: "anthropic", Status: http.StatusBadGateway, Message: sanitize(msg, s.key)}
	}
	return nil
}

func (s *anthropicStream) delta(e anthropicEvent) {
	if e.Delta == nil {
		return
	}
	switch e.Delta.Type {
	case "text_delta":
		s.pending = append(s.pending, Event{Kind: EventText, Text: e.Delta.Text})
	case "input_json_delta":
		if i, ok := s.blocks[e.Index]; ok && e.Delta.PartialJSON != "" {
			s.pending = append(s.pending, Event{Kind: EventToolArgs, Index: i, Text: e.Delta.PartialJSON})
		}
	}
}

// usageDelta is a usage object whose absent fields stay nil.
type usageDelta struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
}

func (s *anthropicStream) merge(u *usageDelta) {
	if u == nil {
		return
	}
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&s.usage.InputTokens, u.InputTokens)
	set(&s.usage.OutputTokens, u.OutputTokens)
	set(&s.usage.CacheReadInputTokens, u.CacheReadInputTokens)
	set(&s.usage.CacheCreationInputTokens, u.CacheCreationInputTokens)
}

func (s *anthropicStream) Close() error { return s.body.Close() }
