package relay

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/devmesh/devmesh/internal/errs"
)

// chatFormat is OpenAI's chat completions format (POST
// /v1/chat/completions), which OpenAI-compatible servers also speak.
type chatFormat struct{}

func (chatFormat) name() string { return "chat.completions" }

type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Tools               []chatTool      `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	MaxTokens           *int64          `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	Stop                json.RawMessage `json:"stop,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	N *int `json:"n,omitempty"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content,omitempty"`
	ToolCalls  []chatToolCall  `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

type chatContentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url,omitempty"`
}

type chatToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	} `json:"function"`
}

func (chatFormat) decode(body []byte, _ http.Header, _ bool) (*Request, error) {
	var cr chatRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "invalid chat completion request: malformed JSON")
	}
	if cr.N != nil && *cr.N != 1 {
		return nil, errs.E(errs.Invalid, "invalid n %d: the relay returns one choice", *cr.N)
	}
	req := &Request{Model: cr.Model, Temperature: cr.Temperature, TopP: cr.TopP,
		Stream: cr.Stream}
	if cr.StreamOptions != nil {
		req.IncludeUsage = cr.StreamOptions.IncludeUsage
	}
	for _, p := range []*int64{cr.MaxCompletionTokens, cr.MaxTokens} {
		if p != nil && req.MaxTokens == 0 {
			req.MaxTokens = *p
		}
	}
	var err error
	if req.Stop, err = stringOrList(cr.Stop); err != nil {
		return nil, err
	}
	if err := chatMessages(req, cr.Messages); err != nil {
		return nil, err
	}
	for _, t := range cr.Tools {
		req.Tools = append(req.Tools, Tool{Name: t.Function.Name,
			Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	if req.ToolChoice, err = chatToolChoice(cr.ToolChoice); err != nil {
		return nil, err
	}
	return req, validate(req)
}

func chatMessages(req *Request, msgs []chatMessage) error {
	var system []string
	for i, m := range msgs {
		switch m.Role {
		case "system", "developer":
			text, _, err := chatContent(m.Content)
			if err != nil {
				return err
			}
			system = append(system, text)
		case "user":
			_, parts, err := chatContent(m.Content)
			if err != nil {
				return err
			}
			appendTurn(req, RoleUser, parts...)
		case "assistant":
			_, parts, err := chatContent(m.Content)
			if err != nil {
				return err
			}
			for _, tc := range m.ToolCalls {
				parts = append(parts, Part{Kind: PartToolCall, CallID: tc.ID,
					Name: tc.Function.Name, Arguments: tc.Function.Arguments})
			}
			appendTurn(req, RoleAssistant, parts...)
		case "tool":
			text, _, err := chatContent(m.Content)
			if err != nil {
				return err
			}
			appendTurn(req, RoleUser, Part{Kind: PartToolResult, CallID: m.ToolCallID, Text: text})
		default:
			return errs.E(errs.Invalid, "invalid role %q in message %d", m.Role, i)
		}
	}
	req.System = strings.Join(system, "\n\n")
	return nil
}

// appendTurn adds parts to the conversation, merging consecutive turns
// of one role (Anthropic requires alternation; tool results arrive as
// separate chat messages).
func appendTurn(req *Request, role string, parts ...Part) {
	if len(parts) == 0 {
		return
	}
	if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == role {
		req.Messages[n-1].Parts = append(req.Messages[n-1].Parts, parts...)
		return
	}
	req.Messages = append(req.Messages, Message{Role: role, Parts: parts})
}

// chatContent decodes a content field: a string or a list of parts.
func chatContent(raw json.RawMessage) (string, []Part, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return "", nil, nil
		}
		return s, []Part{{Kind: PartText, Text: s}}, nil
	}
	var list []chatContentPart
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", nil, errs.E(errs.Invalid, "invalid message content: want a string or a list of parts")
	}
	var parts []Part
	var texts []string
	for _, p := range list {
		switch {
		case p.Type == "text":
			parts = append(parts, Part{Kind: PartText, Text: p.Text})
			texts = append(texts, p.Text)
		case p.Type == "image_url" && p.ImageURL != nil:
			parts = append(parts, Part{Kind: PartImage, ImageURL: p.ImageURL.URL})
		default:
			return "", nil, errs.E(errs.Invalid, "unsupported content part type %q", p.Type)
		}
	}
	return strings.Join(texts, "\n"), parts, nil
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errs.E(errs.Invalid, "invalid stop: want a string or a list of strings")
	}
	return list, nil
}

func chatToolChoice(raw json.RawMessage) (ToolChoice, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return ToolChoice{}, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s != "auto" && s != "none" && s != "required" {
			return ToolChoice{}, errs.E(errs.Invalid, "invalid tool_choice %q", s)
		}
		return ToolChoice{Mode: s}, nil
	}
	var obj struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Function.Name == "" {
		return ToolChoice{}, errs.E(errs.Invalid, "invalid tool_choice: want a mode or a function")
	}
	return ToolChoice{Mode: "tool", Name: obj.Function.Name}, nil
}

// validate checks what every format requires of a request.
func validate(req *Request) error {
	switch {
	case req.Model == "":
		return errs.E(errs.Invalid, "invalid request: model is required")
	case len(req.Messages) == 0:
		return errs.E(errs.Invalid, "invalid request: no messages")
	case req.MaxTokens < 0:
		return errs.E(errs.Invalid, "invalid max tokens %d: negative", req.MaxTokens)
	}
	return nil
}

var chatFinish = map[StopReason]string{StopEnd: "stop", StopLength: "length",
	StopToolCalls: "tool_calls", StopFiltered: "content_filter"}

type chatUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func chatUsageOf(r *Response) *chatUsage {
	u := &chatUsage{PromptTokens: r.Usage.InputTokens, CompletionTokens: r.Usage.OutputTokens,
		TotalTokens: r.Usage.Total()}
	u.PromptTokensDetails.CachedTokens = r.Usage.CachedInputTokens
	return u
}

type chatChoice struct {
	Index        int              `json:"index"`
	Message      *chatOutMessage  `json:"message,omitempty"`
	Delta        *chatOutMessage  `json:"delta,omitempty"`
	FinishReason *string          `json:"finish_reason"`
	Logprobs     *json.RawMessage `json:"logprobs"`
}

type chatOutMessage struct {
	Role      string         `json:"role,omitempty"`
	Content   *string        `json:"content,omitempty"`
	Refusal   *string        `json:"refusal,omitempty"`
	ToolCalls []chatToolCall `json:"tool_calls,omitempty"`
}

type chatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *chatUsage   `json:"usage,omitempty"`
}

func chatID(id string) string { return "chatcmpl-" + strings.TrimPrefix(id, "rsv_") }

func (chatFormat) respond(w http.ResponseWriter, req *Request, r *Response) error {
	content := r.Text()
	msg := &chatOutMessage{Role: "assistant", Content: &content}
	for _, p := range r.Parts {
		if p.Kind == PartToolCall {
			tc := chatToolCall{ID: p.CallID, Type: "function"}
			tc.Function.Name, tc.Function.Arguments = p.Name, p.Arguments
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
	}
	if content == "" && len(msg.ToolCalls) > 0 {
		msg.Content = nil
	}
	finish := chatFinish[r.Stop]
	if finish == "" {
		finish = "stop"
	}
	out := chatCompletion{ID: chatID(r.ID), Object: "chat.completion", Created: nowUnix(),
		Model: r.Model, Choices: []chatChoice{{Message: msg, FinishReason: &finish}},
		Usage: chatUsageOf(r)}
	return writeJSON(w, out)
}

// chatStream encodes a chat completion as chunks.
type chatStream struct {
	w       *sseWriter
	req     *Request
	resp    *Response
	created int64
}

func (chatFormat) encoder(w *sseWriter, req *Request, resp *Response) streamEncoder {
	return &chatStream{w: w, req: req, resp: resp, created: nowUnix()}
}

func (s *chatStream) chunk(delta *chatOutMessage, finish *string, usage *chatUsage) error {
	c := chatCompletion{ID: chatID(s.resp.ID), Object: "chat.completion.chunk",
		Created: s.created, Model: s.resp.Model, Choices: []chatChoice{}, Usage: usage}
	if delta != nil {
		c.Choices = append(c.Choices, chatChoice{Delta: delta, FinishReason: finish})
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.w.send("", b)
}

func (s *chatStream) begin() error {
	empty := ""
	return s.chunk(&chatOutMessage{Role: "assistant", Content: &empty}, nil, nil)
}

func (s *chatStream) event(e Event) error {
	switch e.Kind {
	case EventText:
		t := e.Text
		return s.chunk(&chatOutMessage{Content: &t}, nil, nil)
	case EventToolCall, EventToolArgs:
		i := e.Index
		tc := chatToolCall{Index: &i}
		if e.Kind == EventToolCall {
			tc.ID, tc.Type, tc.Function.Name = e.CallID, "function", e.Name
		} else {
			tc.Function.Arguments = e.Text
		}
		return s.chunk(&chatOutMessage{ToolCalls: []chatToolCall{tc}}, nil, nil)
	case EventStop:
		finish := chatFinish[e.Stop]
		return s.chunk(&chatOutMessage{}, &finish, nil)
	}
	return nil
}

func (s *chatStream) end() error {
	// The relay always asks the provider for usage; the usage-only chunk
	// goes only to clients that asked for it, as OpenAI does.
	if s.req.IncludeUsage && s.resp.UsageKnown {
		if err := s.chunk(nil, nil, chatUsageOf(s.resp)); err != nil {
			return err
		}
	}
	return s.w.send("", []byte("[DONE]"))
}

func (s *chatStream) fail(msg string) error {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{
		"message": msg, "type": "server_error"}})
	return s.w.send("", b)
}
