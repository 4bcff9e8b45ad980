package relay

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
)

// messagesFormat is Anthropic's Messages format (POST /v1/messages).
type messagesFormat struct{}

func (messagesFormat) name() string { return "messages" }

type msgRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int64          `json:"max_tokens"`
	System        json.RawMessage `json:"system,omitempty"`
	Messages      []msgMessage    `json:"messages"`
	Tools         []msgTool       `json:"tools,omitempty"`
	ToolChoice    *msgToolChoice  `json:"tool_choice,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
}

type msgMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type msgBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *msgSource      `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
}

type msgSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type msgTool struct {
	Type        string          `json:"type,omitempty"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type msgToolChoice struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

// Anthropic headers the relay forwards to Anthropic upstreams.
var anthropicHeaders = []string{"anthropic-version", "anthropic-beta"}

func (messagesFormat) decode(body []byte, h http.Header, countOnly bool) (*Request, error) {
	var mr msgRequest
	if err := json.Unmarshal(body, &mr); err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "invalid messages request: malformed JSON")
	}
	req := &Request{Model: mr.Model, Temperature: mr.Temperature, TopP: mr.TopP,
		Stop: mr.StopSequences, Stream: mr.Stream, Header: map[string]string{}}
	for _, k := range anthropicHeaders {
		if v := h.Get(k); v != "" {
			req.Header[k] = v
		}
	}
	switch {
	case mr.MaxTokens != nil:
		req.MaxTokens = *mr.MaxTokens
	case !countOnly:
		return nil, errs.E(errs.Invalid, "invalid messages request: max_tokens is required")
	}
	system, err := msgText(mr.System)
	if err != nil {
		return nil, err
	}
	req.System = system
	for i, m := range mr.Messages {
		if m.Role != RoleUser && m.Role != RoleAssistant {
			return nil, errs.E(errs.Invalid, "invalid role %q in message %d", m.Role, i)
		}
		parts, err := msgParts(m.Content)
		if err != nil {
			return nil, err
		}
		appendTurn(req, m.Role, parts...)
	}
	for _, t := range mr.Tools {
		if t.Type != "" && t.Type != "custom" {
			return nil, errs.E(errs.Invalid, "unsupported tool type %q: the relay offers client tools only", t.Type)
		}
		req.Tools = append(req.Tools, Tool{Name: t.Name, Description: t.Description, Parameters: t.InputSchema})
	}
	if tc := mr.ToolChoice; tc != nil {
		mode, ok := map[string]string{"auto": "auto", "any": "required", "none": "none", "tool": "tool"}[tc.Type]
		if !ok {
			return nil, errs.E(errs.Invalid, "invalid tool_choice type %q", tc.Type)
		}
		req.ToolChoice = ToolChoice{Mode: mode, Name: tc.Name}
	}
	return req, validate(req)
}

// msgText decodes a string or a list of text blocks.
func msgText(raw json.RawMessage) (string, error) {
	parts, err := msgParts(raw)
	if err != nil {
		return "", err
	}
	var texts []string
	for _, p := range parts {
		if p.Kind != PartText {
			return "", errs.E(errs.Invalid, "invalid content: only text is allowed here")
		}
		texts = append(texts, p.Text)
	}
	return strings.Join(texts, "\n"), nil
}

func msgParts(raw json.RawMessage) ([]Part, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []Part{{Kind: PartText, Text: s}}, nil
	}
	var blocks []msgBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, errs.E(errs.Invalid, "invalid content: want a string or a list of blocks")
	}
	parts := make([]Part, 0, len(blocks))
	for _, b := range blocks {
		p, err := msgPart(b)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

func msgPart(b msgBlock) (Part, error) {
	switch b.Type {
	case "text":
		return Part{Kind: PartText, Text: b.Text}, nil
	case "image":
		if b.Source == nil {
			return Part{}, errs.E(errs.Invalid, "invalid image block: no source")
		}
		if b.Source.Type == "url" {
			return Part{Kind: PartImage, ImageURL: b.Source.URL}, nil
		}
		return Part{Kind: PartImage, ImageURL: "data:" + b.Source.MediaType + ";base64," + b.Source.Data}, nil
	case "tool_use":
		args := string(b.Input)
		if args == "" {
			args = "{}"
		}
		return Part{Kind: PartToolCall, CallID: b.ID, Name: b.Name, Arguments: args}, nil
	case "tool_result":
		text, err := msgText(b.Content)
		if err != nil {
			return Part{}, err
		}
		return Part{Kind: PartToolResult, CallID: b.ToolUseID, Text: text, IsError: b.IsError}, nil
	}
	return Part{}, errs.E(errs.Invalid, "unsupported content block type %q", b.Type)
}

var msgStops = map[StopReason]string{StopEnd: "end_turn", StopLength: "max_tokens",
	StopToolCalls: "tool_use", StopFiltered: "refusal"}

type msgUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
}

func msgUsageOf(r *Response) msgUsage {
	return msgUsage{InputTokens: r.Usage.InputTokens - r.Usage.CachedInputTokens,
		OutputTokens: r.Usage.OutputTokens, CacheReadInputTokens: r.Usage.CachedInputTokens}
}

type msgResponse struct {
	ID           string     `json:"id"`
	Type         string     `json:"type"`
	Role         string     `json:"role"`
	Model        string     `json:"model"`
	Content      []msgBlock `json:"content"`
	StopReason   *string    `json:"stop_reason"`
	StopSequence *string    `json:"stop_sequence"`
	Usage        msgUsage   `json:"usage"`
}

func msgID(id string) string { return "msg_" + strings.TrimPrefix(id, "rsv_") }

func msgBlocks(parts []Part) []msgBlock {
	blocks := []msgBlock{}
	for _, p := range parts {
		switch p.Kind {
		case PartText:
			blocks = append(blocks, msgBlock{Type: "text", Text: p.Text})
		case PartToolCall:
			blocks = append(blocks, msgBlock{Type: "tool_use", ID: p.CallID, Name: p.Name,
				Input: jsonOrEmpty(p.Arguments)})
		}
	}
	return blocks
}

// jsonOrEmpty returns s as raw JSON, or {} when s is not valid JSON
// (a model may stop in the middle of its arguments).
func jsonOrEmpty(s string) json.RawMessage {
	if s == "" || !json.Valid([]byte(s)) {
		return json.RawMessage(`{}`)
	}
	return json.RawMessage(s)
}

func (messagesFormat) respond(w http.ResponseWriter, req *Request, r *Response) error {
	stop := msgStops[r.Stop]
	if stop == "" {
		stop = "end_turn"
	}
	return writeJSON(w, msgResponse{ID: msgID(r.ID), Type: "message", Role: "assistant",
		Model: r.Model, Content: msgBlocks(r.Parts), StopReason: &stop, Usage: msgUsageOf(r)})
}

// msgStream encodes a response as Anthropic stream events.
type msgStream struct {
	w     *sseWriter
	resp  *Response
	block int  // index of the open block, -1 if none
	open  bool // whether block is open
	kind  PartKind
	tools map[int]int // tool call index -> block index
	stop  StopReason
}

func (messagesFormat) encoder(w *sseWriter, _ *Request, resp *Response) streamEncoder {
	return &msgStream{w: w, resp: resp, block: -1, tools: map[int]int{}}
}

func (s *msgStream) send(name string, v map[string]any) error {
	v["type"] = name
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.w.send(name, b)
}

func (s *msgStream) begin() error {
	return s.send("message_start", map[string]any{"message": msgResponse{
		ID: msgID(s.resp.ID), Type: "message", Role: "assistant", Model: s.resp.Model,
		Content: []msgBlock{}}})
}

func (s *msgStream) startBlock(kind PartKind, block msgBlock) error {
	if err := s.closeBlock(); err != nil {
		return err
	}
	s.block++
	s.open, s.kind = true, kind
	return s.send("content_block_start", map[string]any{"index": s.block, "content_block": block})
}

func (s *msgStream) closeBlock() error {
	if !s.open {
		return nil
	}
	s.open = false
	return s.send("content_block_stop", map[string]any{"index": s.block})
}

func (s *msgStream) event(e Event) error {
	switch e.Kind {
	case EventText:
		if !s.open || s.kind != PartText {
			if err := s.startBlock(PartText, msgBlock{Type: "text"}); err != nil {
				return err
			}
		}
		return s.send("content_block_delta", map[string]any{"index": s.block,
			"delta": map[string]string{"type": "text_delta", "text": e.Text}})
	case EventToolCall:
		if err := s.startBlock(PartToolCall, msgBlock{Type: "tool_use", ID: e.CallID,
			Name: e.Name, Input: json.RawMessage(`{}`)}); err != nil {
			return err
		}
		s.tools[e.Index] = s.block
	case EventToolArgs:
		b, ok := s.tools[e.Index]
		if !ok || b != s.block || !s.open {
			return nil // arguments of a block already closed cannot be sent
		}
		return s.send("content_block_delta", map[string]any{"index": b,
			"delta": map[string]string{"type": "input_json_delta", "partial_json": e.Text}})
	case EventStop:
		s.stop = e.Stop
	}
	return nil
}

func (s *msgStream) end() error {
	if err := s.closeBlock(); err != nil {
		return err
	}
	stop := msgStops[s.stop]
	if stop == "" {
		stop = "end_turn"
	}
	delta := map[string]any{"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}}
	if s.resp.UsageKnown {
		delta["usage"] = msgUsageOf(s.resp)
	} else {
		delta["usage"] = map[string]int64{"output_tokens": 0}
	}
	if err := s.send("message_delta", delta); err != nil {
		return err
	}
	return s.send("message_stop", map[string]any{})
}

func (s *msgStream) fail(msg string) error {
	return s.send("error", map[string]any{"error": map[string]string{
		"type": "api_error", "message": msg}})
}
